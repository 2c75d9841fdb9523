"""The process layer (collectors/proctable.py): one pass per collection over fake process tables
with psutil's failure modes (exit mid-iteration, access denied, zombies, PID reuse), the rates and
rankings of the top-processes view, redaction of secret-looking arguments, and real psutil reading
a fake host tree through PROCFS_PATH under agent.host_root."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from aiops_agent.base.processes import ProcessSummary
from aiops_agent.collectors import new_process_table
from aiops_agent.collectors.host import HostPaths
from aiops_agent.collectors.proctable import FD_FLOOR, Redactor, _limit_in_file
from aiops_agent.config.schema import DEFAULT_REDACT, CollectorsSection, ProcessesSection
from tests.helpers.fakeprocs import Clock, FakeApi, table_of


def test_a_process_that_exits_mid_iteration_is_skipped_and_the_pass_goes_on() -> None:
    api = FakeApi()
    for pid in (10, 20, 30):
        api.add(pid)

    def exit_20(pid: int) -> None:
        if pid == 20:
            del api.table[20]  # listed by pids(), gone before its files are read

    api.on_as_dict = exit_20
    table = table_of(api)
    records = table.scan()
    assert [r.pid for r in records] == [10, 30]
    assert table.skipped == {"exited": 1, "unreadable": 0}


def test_access_denied_leaves_that_value_unknown_and_keeps_the_rest() -> None:
    api = FakeApi()
    api.add(10, io_counters=psutil.AccessDenied, num_fds=psutil.AccessDenied, name="sshd")
    api.add(11, num_fds=50)
    table = table_of(api)
    (denied, _other) = table.scan()
    assert (denied.name, denied.read_bytes, denied.write_bytes, denied.open_fds) == (
        "sshd",
        -1,
        -1,
        -1,
    )
    assert denied.rss == 1000
    fds = table.view(5, 0.0).top("fds")
    assert [p.pid for p in fds] == [11]  # an unknown count ranks nowhere


def test_a_zombie_is_listed_with_what_can_be_read() -> None:
    api = FakeApi()
    api.add(
        66,
        status="zombie",
        cmdline=psutil.ZombieProcess,
        cpu_times=psutil.ZombieProcess,
        memory_info=psutil.ZombieProcess,
    )
    table = table_of(api)
    (zombie,) = table.scan()
    assert (zombie.pid, zombie.status, zombie.args, zombie.rss) == (66, "zombie", (), 0)
    (shown,) = table.view(5, 0.0).top("fds")
    assert (shown.pid, shown.cmdline) == (66, "")


def test_a_reused_pid_is_a_new_process_not_a_rate_against_the_old_one() -> None:
    api, clock = FakeApi(), Clock()
    api.add(7, create_time=100.0, cpu_times=SimpleNamespace(user=40.0, system=10.0))
    table = table_of(api, clock)
    table.scan()
    clock.now += 10
    # PID 7 exited and the kernel gave its number to a new process using 1 s of CPU so far.
    api.add(7, create_time=205.0, cpu_times=SimpleNamespace(user=1.0, system=0.0), name="new")
    (record,) = table.scan()
    assert (record.name, record.create_time, record.new, record.cpu_delta) == (
        "new",
        205.0,
        True,
        0.0,
    )
    assert api.created == [7, 7]  # the cached Process of the old one was not reused


def test_cpu_rates_rankings_and_bound() -> None:
    api, clock = FakeApi(), Clock()
    for pid in range(1, 21):
        api.add(pid, cpu_times=SimpleNamespace(user=float(pid), system=0.0))
    table = table_of(api, clock)
    table.scan()
    clock.now += 2.0
    for pid in range(1, 21):
        # Process 20 used 3 CPU seconds in 2 s (1.5 cores); the others 0.1 s per PID number.
        extra = 3.0 if pid == 20 else pid / 10
        api.table[pid]["cpu_times"] = SimpleNamespace(user=pid + extra, system=0.0)
    table.scan()
    top = table.view(3, 0.0).top("cpu")
    assert [p.pid for p in top] == [20, 19, 18]
    assert top[0].cpu_ratio == pytest.approx(1.5)
    assert not top[0].new


def test_memory_change_writes_and_forks() -> None:
    api, clock = FakeApi(), Clock()
    api.add(1, name="init")
    api.add(50, name="writer", memory_info=SimpleNamespace(rss=10_000_000, vms=0))
    table = table_of(api, clock)
    table.scan()
    clock.now += 1.0
    api.table[50]["memory_info"] = SimpleNamespace(rss=30_000_000, vms=0)
    api.table[50]["io_counters"] = SimpleNamespace(read_bytes=0, write_bytes=5_000_000)
    api.add(60, ppid=50)
    api.add(61, ppid=50)
    table.scan()
    view = table.view(5, 0.0)
    writer = view.top("filesystem")[0]
    assert (writer.name, writer.write_bytes_per_second) == ("writer", 5_000_000.0)
    assert view.top("memory")[0].rss_change_bytes == 20_000_000
    assert [(p.pid, p.forks) for p in view.top("forks")] == [(50, 2)]
    assert view.top("swap") == view.top("memory")


NOFILE, NPROC = resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC


def test_fd_ratio_is_the_worst_process_against_its_own_limit_read_only_above_the_floor() -> None:
    api = FakeApi()
    api.add(10, num_fds=FD_FLOOR - 1, rlimits={NOFILE: (FD_FLOOR, FD_FLOOR)})  # under the floor
    api.add(20, name="leaker", num_fds=60, rlimits={NOFILE: (64, 4096)})  # 0.9375
    api.add(30, name="server", num_fds=900, rlimits={NOFILE: (65536, 65536)})  # most fds
    api.add(40, num_fds=5000, rlimits={NOFILE: (-1, -1)})  # unlimited: no ratio
    api.add(50, num_fds=psutil.AccessDenied)  # not readable: no ratio
    table = table_of(api)
    table.scan()
    assert table.fd_ratio() == pytest.approx(60 / 64)
    assert api.rlimit_calls == 3  # 20, 30 and 40: the others cannot be near a limit
    ranked = table.view(5, 0.0).top("fd_limit")
    assert [(p.pid, p.open_fds, p.limit) for p in ranked] == [(20, 60, 64), (30, 900, 65536)]
    assert ranked[0].describe("fd_limit").startswith("pid 20 leaker (root): 60 open fds of its "
                                                     "limit 64")  # fmt: skip
    assert table.fd_limit(20) == 64  # the pass's reading, for the process groups too
    assert api.rlimit_calls == 3
    api.table[20]["num_fds"] = 3  # it closed them: the next pass forgets it
    table.scan()
    assert table.fd_ratio() == pytest.approx(900 / 65536)


def test_task_ratio_counts_threads_of_users_other_than_root_against_their_newest_nproc(
    tmp_path: Path,
) -> None:
    api = FakeApi()
    # root is exempt from RLIMIT_NPROC: its 100 threads under a limit of 10 do not count.
    api.add(1, num_threads=100, rlimits={NPROC: (10, 10)})
    api.add(100, name="loop", uids=SimpleNamespace(real=1000), rlimits={NPROC: (40, 40)})
    for pid in range(101, 120):  # 19 descendants of 100 (5 through 101), the newest last
        limit = {110: 25, 119: 30}.get(pid, 40)  # 110: older, and not read
        api.add(pid, create_time=float(pid), ppid=101 if pid >= 115 else 100, name="loop",
                uids=SimpleNamespace(real=1000), rlimits={NPROC: (limit, limit)})  # fmt: skip
    api.add(120, name="java", num_threads=10, uids=SimpleNamespace(real=1000))
    for pid in range(200, 205):  # a user with 5 tasks: under the floor, no limit read
        api.add(pid, uids=SimpleNamespace(real=1001), rlimits={NPROC: (1, 1)})
    table = table_of(api, root=str(tmp_path))  # no passwd there: users by uid
    table.scan()
    assert table.task_ratio() == pytest.approx(30 / 30)  # 20 processes + 10 threads of 120
    assert [u.uid for u in table.user_tasks] == [1000]
    assert api.rlimit_calls == 1  # one per busy user: 119, uid 1000's newest
    ranked = table.view(3, 0.0).top("process_limit")
    assert [(p.pid, p.tasks, p.limit, p.user_tasks) for p in ranked] == [
        (100, 20, 30, 30),  # itself and its 19 descendants: the loop's root
        (120, 10, 30, 30),  # its threads
        (101, 6, 30, 30),  # itself and its 5 children
    ]
    assert (
        ranked[0]
        .describe("process_limit")
        .startswith(
            "pid 100 loop (1000): 20 tasks with its descendants; 1000 runs 30 tasks of its limit 30"
        )
    )

    def newest_exits(pid: int) -> None:  # after the listing, before its limit is read
        if pid == 120:
            api.table.pop(119, None)

    api.on_as_dict = newest_exits
    table.scan()
    assert [(u.tasks, u.limit) for u in table.user_tasks] == [(30, 40)]  # 118's limit
    assert api.rlimit_calls == 2  # 118 only: 119 was gone (the fake counts no call then)
    api.on_as_dict = None
    for pid in range(101, 119):  # the loop was stopped
        del api.table[pid]
    table.scan()
    assert (table.task_ratio(), table.view(2, 0.0).top("process_limit")) == (0.0, ())


def test_limits_of_other_users_processes_come_from_proc_pid_limits(tmp_path: Path) -> None:
    """A non-root agent may not prlimit another user's process; /proc/PID/limits is readable."""
    api = FakeApi()
    refused = {NOFILE: psutil.AccessDenied, NPROC: psutil.AccessDenied}
    api.add(7, num_fds=200, rlimits=refused)
    api.add(8, num_fds=200, rlimits=refused)  # unlimited
    api.add(9, num_fds=200, rlimits=refused)  # exited: no file
    for pid, files in ((7, "256"), (8, "unlimited")):
        (tmp_path / "proc" / str(pid)).mkdir(parents=True)
        (tmp_path / "proc" / str(pid) / "limits").write_text(
            "Limit                     Soft Limit           Hard Limit           Units     \n"
            "Max processes             96365                96365                processes \n"
            f"Max open files            {files:<20} 524288               files     \n"
        )
    table = table_of(api, root=str(tmp_path))
    table.scan()
    assert table.fd_limits == {7: 256}
    assert table.fd_ratio() == 200 / 256


def test_limits_file_of_a_real_process_reads_as_getrlimit() -> None:
    """The parser against the kernel's own /proc/PID/limits (this test's process), not a copy."""
    limits = f"/proc/{os.getpid()}/limits"
    for which in (NOFILE, NPROC):
        soft = resource.getrlimit(which)[0]
        assert _limit_in_file(limits, which) == (0 if soft == resource.RLIM_INFINITY else soft)
    assert _limit_in_file(f"/proc/{os.getpid()}/no-such-file", NOFILE) is None


def test_a_summary_saved_before_the_limit_fields_still_loads() -> None:
    summary = ProcessSummary(7, "x", "bob", "x", 0.0, 0, 0, 0.0, 0.0, 3, 0, False)
    old = {k: v for k, v in summary.as_json().items() if k not in ("tasks", "limit",
                                                                   "user_tasks")}  # fmt: skip
    assert ProcessSummary.from_json(old) == summary
    with pytest.raises(KeyError):
        ProcessSummary.from_json({k: v for k, v in old.items() if k != "pid"})


@pytest.mark.parametrize(
    ("args", "secret"),
    [
        (["mysqld", "--password=hunter2"], "hunter2"),
        (["app", "--api-token", "tok-123", "--verbose"], "tok-123"),
        (["curl", "-H", "Authorization: Bearer eyJabc.def", "https://x"], "eyJabc.def"),
        (["psql", "postgresql://bob:s3cr3t@db:5432/app"], "s3cr3t"),
        (["worker", "https://h/cb?token=abc987&x=1"], "abc987"),
        (["env", "DB_PASSWORD=pw-9\nline"], "pw-9"),
    ],
)
def test_secret_looking_arguments_never_reach_the_view(args: list[str], secret: str) -> None:
    api = FakeApi()
    api.add(5, cmdline=args, num_fds=999)
    table = table_of(api)
    table.scan()
    (shown,) = table.view(5, 0.0).top("fds")
    assert secret not in shown.cmdline
    assert "***" in shown.cmdline
    assert secret not in repr(table.view(5, 0.0))


def test_long_command_lines_are_cut_after_redaction() -> None:
    redact = Redactor(DEFAULT_REDACT, 30)
    text = redact(["x" * 20, "--password=" + "p" * 40])
    assert len(text) == 30 and text.endswith("...")
    assert "ppp" not in text


def test_procfs_path_follows_host_root(tmp_path: Path) -> None:
    api = FakeApi()
    table_of(api, root=str(tmp_path))
    assert str(tmp_path / "proc") == api.PROCFS_PATH


def write_fake_process(
    proc: Path, pid: int, comm: str, args: list[str], uid: int, start: int = 1000
) -> None:
    """The files psutil's Linux backend reads for the table's attributes; `start` is the start
    time in clock ticks after boot (the identity psutil checks with the PID)."""
    directory = proc / str(pid)
    (directory / "fd").mkdir(parents=True, exist_ok=True)
    for fd in range(4):
        (directory / "fd" / str(fd)).write_text("")
    # stat: pid (comm) state ppid ... utime(14) stime(15) ... starttime(22) ... delayacct(42)
    fields = ["S", "1"] + ["0"] * 9 + ["250", "50", "0", "0", "20", "0", "2", "0", str(start)]
    fields += ["0"] * 20
    (directory / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")
    (directory / "cmdline").write_bytes(b"\0".join(a.encode() for a in args) + b"\0")
    (directory / "statm").write_text("2000 500 100 10 0 300 0\n")
    (directory / "io").write_text(
        "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\n"
        "cancelled_write_bytes: 0\n"
    )
    (directory / "status").write_text(
        f"Name:\t{comm}\nState:\tS (sleeping)\nPPid:\t1\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
        f"Gid:\t0\t0\t0\t0\nThreads:\t2\nvoluntary_ctxt_switches:\t7\n"
        f"nonvoluntary_ctxt_switches:\t3\n"
    )


def test_real_psutil_reads_the_host_tree_under_host_root(tmp_path: Path) -> None:
    """psutil itself, pointed at a fake host's /proc by host_root: the agent's own processes do
    not show, the host's do, with the user named by the host's /etc/passwd."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  1 2 3 4 5 6 7 0 0 0\nbtime 1700000000\n")
    write_fake_process(proc, 4242, "hostdaemon", ["/usr/sbin/hostdaemon", "--token=t0p"], 1234)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nsvc:x:1234:1234::/:/x\n")
    saved = psutil.PROCFS_PATH
    try:
        table = new_process_table(
            ProcessesSection(), CollectorsSection(), HostPaths.under(str(tmp_path))
        )
        (record,) = table.scan()
    finally:
        psutil.PROCFS_PATH = saved
    assert (record.pid, record.name, record.user) == (4242, "hostdaemon", "svc")
    (shown,) = table.view(5, 0.0).top("fds")
    assert shown.cmdline == "/usr/sbin/hostdaemon --token=***"
    assert (record.rss, record.read_bytes, record.write_bytes) == (
        500 * os.sysconf("SC_PAGE_SIZE"),
        4096,
        8192,
    )
    assert (record.open_fds, record.threads, record.ctx_voluntary) == (4, 2, 7)
    assert record.cpu_user == pytest.approx(250 / os.sysconf("SC_CLK_TCK"))


def test_real_psutil_notices_a_reused_pid(tmp_path: Path) -> None:
    """The table relies on psutil re-checking a cached Process's identity (in ppid()): the same
    PID with another start time must come out as a new process, not a rate against the old."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  1 2 3 4 5 6 7 0 0 0\nbtime 1700000000\n")
    write_fake_process(proc, 4242, "old", ["/bin/old"], 0, start=1000)
    saved = psutil.PROCFS_PATH
    try:
        table = new_process_table(
            ProcessesSection(), CollectorsSection(), HostPaths.under(str(tmp_path))
        )
        (first,) = table.scan()
        write_fake_process(proc, 4242, "new", ["/bin/new"], 0, start=9000)
        (second,) = table.scan()
    finally:
        psutil.PROCFS_PATH = saved
    assert (first.name, first.new) == ("old", True)
    assert (second.name, second.new) == ("new", True)
    assert second.create_time > first.create_time


def test_psutil_is_imported_only_when_the_process_layer_is_on() -> None:
    """~1.6 MiB of RSS: an agent with processes.enabled off and no groups does not pay it."""
    probe = (
        "import sys\n"
        "from aiops_agent.agent import Agent\n"
        "from aiops_agent.config import load_config\n"
        "config = load_config(None)\n"
        "import dataclasses\n"
        "off = dataclasses.replace(config, processes=dataclasses.replace(config.processes, "
        "enabled=False))\n"
        "Agent._build_collectors(None, off)\n"
        "print('psutil' in sys.modules, end=' ')\n"
        "Agent._build_collectors(None, config)\n"
        "print('psutil' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout == "False True\n", result.stderr


def test_top_renders_one_line_per_process() -> None:
    from aiops_agent.base.processes import ProcessSummary
    from aiops_agent.topview import render

    kernel = ProcessSummary(2, "kthreadd", "root", "", 0.0, 0, 0, 0.0, 0.0, -1, 3, False)
    hog = ProcessSummary(4242, "stress", "alice", "stress --cpu 2", 1.5, 3 << 20, -(1 << 20),
                         0.0, 2048.0, 7, 0, False)  # fmt: skip
    lines = render((hog, kernel), "cpu", 120).splitlines()
    assert lines[0] == "aiops-agent top: 120 processes, top 2 by cpu"
    assert lines[2].split() == ["4242", "alice", "stress", "150%", "3.0M", "-1.0M", "0B",
                                "2.0K", "7", "0", "stress", "--cpu", "2"]  # fmt: skip
    assert lines[3].split()[-3:] == ["?", "3", "[kthreadd]"]  # unknown fds, a kernel thread


def test_top_renders_the_limit_rankings_with_their_own_columns() -> None:
    from aiops_agent.topview import render

    leak = ProcessSummary(7, "leak", "bob", "leak", 0.0, 0, 0, 0.0, 0.0, 60, 0, False, limit=64)
    lines = render((leak,), "fd_limit", 9).splitlines()
    assert lines[1].split()[-3:] == ["LIMIT", "USE", "COMMAND"]
    assert lines[2].split()[-5:] == ["60", "0", "64", "94%", "leak"]  # FDS FORKS LIMIT USE
    loop = ProcessSummary(100, "loop", "alice", "loop", 0.0, 0, 0, 0.0, 0.0, 3, 19, False,
                          tasks=20, limit=40, user_tasks=30)  # fmt: skip
    lines = render((loop,), "process_limit", 9).splitlines()
    assert lines[0].endswith("top 1 by process_limit (user alice: 30 tasks of its limit 40)")
    assert lines[1].split()[-4:] == ["TASKS", "LIMIT", "USE", "COMMAND"]
    assert lines[2].split()[-5:] == ["19", "20", "40", "75%", "loop"]  # FORKS TASKS LIMIT USE
    assert "LIMIT" not in render((loop,), "cpu", 9)  # the other rankings keep their columns


def test_top_refuses_a_bad_delay() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiops_agent", "top", "--once", "--delay", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "--delay and --top must be positive" in result.stderr


def _passes_in(config_text: str, tmp_path: Path, collections: int) -> int:
    """How many process-table passes `collections` back-to-back collections of an agent with
    this config make."""
    from aiops_agent.agent import Agent
    from aiops_agent.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(config_text)
    collectors, table = Agent._build_collectors(None, load_config(path))  # type: ignore[arg-type]
    assert table is not None
    scan = collectors[0]
    assert scan.name == "process_table"
    calls = 0
    real_scan = table.scan

    def counting_scan() -> list[object]:
        nonlocal calls
        calls += 1
        return real_scan()  # type: ignore[return-value]

    table.scan = counting_scan  # type: ignore[method-assign]
    for _ in range(collections):
        scan.collect()
    return calls


def test_the_view_refreshes_at_its_own_interval_not_every_collection(tmp_path: Path) -> None:
    """A pass over every process costs about four 15 s collections: by default it runs once a
    minute; `processes.interval: 0s` makes it run every collection."""
    assert _passes_in("", tmp_path, 5) == 1
    assert _passes_in("processes: {interval: 0s}\n", tmp_path, 5) == 5


def test_configured_process_groups_get_a_pass_every_collection(tmp_path: Path) -> None:
    groups = "collectors: {process_groups: {process_names: [{name: py, comm: [python3]}]}}\n"
    assert _passes_in(groups, tmp_path, 3) == 3
