"""The agent's process layer: one pass over the host's processes per collection with psutil,
feeding the top-processes view (alert context, `aiops-agent top`) and the process groups
(procgroups.py).

psutil handles what hand-written /proc parsing gets wrong: a process that exits mid-read
(NoSuchProcess: skipped), zombies and processes of other users (AccessDenied: that value unknown,
the rest kept). PID reuse: Process objects are cached per PID and psutil re-checks their identity
(PID, create time) each pass (in ppid()), and the previous counters are keyed by (PID, create
time), so a reused PID never yields a rate computed against another process. No thread per
process; the cache holds only processes seen in the latest pass.

Command lines leave this module only redacted (secret-looking arguments replaced by ***) and
truncated, in the view; group matching reads the raw arguments and never exports them."""

from __future__ import annotations

import heapq
import os
import re
import resource
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Callable, NamedTuple, Optional

from aiops_agent.base.processes import RANKINGS, ProcessSummary, ProcessView
from aiops_agent.collectors.host import HostPaths, read_text

REDACTED = "***"
# What process_iter's as_dict reads per process; exe only when a group matches on it (a readlink
# refused for other users' processes).
_ATTRS = (
    "ppid",
    "name",
    "cmdline",
    "uids",
    "status",
    "cpu_times",
    "memory_info",
    "io_counters",
    "num_fds",
    "num_threads",
    "num_ctx_switches",
)


class ProcessRecord(NamedTuple):
    pid: int
    ppid: int
    create_time: float
    name: str  # the kernel's comm, at most 15 characters
    exe: str  # "" when unknown or not asked for
    args: tuple[str, ...]  # raw: for group matching, and redacted before it is shown
    user: str
    status: str  # psutil's: running, sleeping, disk-sleep, zombie, ...
    cpu_user: float  # seconds
    cpu_system: float
    rss: int  # bytes
    vms: int
    read_bytes: int  # -1: not readable
    write_bytes: int
    open_fds: int  # -1: not readable
    threads: int
    ctx_voluntary: int
    ctx_involuntary: int
    # Since the previous pass; 0 for a process first seen in this one (new).
    cpu_delta: float
    read_delta: int
    write_delta: int
    rss_delta: int
    new: bool
    uid: int = -1  # real uid; -1: unknown


# Limits are read (one prlimit call each) only where they can matter, so a pass stays cheap: for a
# process holding at least FD_FLOOR open fds (a soft RLIMIT_NOFILE below 64 is rare; the usual one
# is 1024), and for one process of each non-root user running at least TASKS_FLOOR tasks.
FD_FLOOR = 32
TASKS_FLOOR = 16
# Their lines in /proc/PID/limits.
_LIMIT_LINES = {resource.RLIMIT_NOFILE: "Max open files", resource.RLIMIT_NPROC: "Max processes"}


class UserTasks(NamedTuple):
    """A non-root user's tasks (threads, which count against RLIMIT_NPROC on Linux, as processes
    do) and the RLIMIT_NPROC of its newest readable process, which stands for all of its
    processes (see ProcessTable._user_tasks)."""

    uid: int
    tasks: int
    limit: int  # 0: unknown or unlimited


class Redactor:
    """Replaces what each pattern's group `secret` (else the whole match) matched by ***, then
    truncates. Redacting before truncating: a cut cannot leave half a secret unmatched."""

    def __init__(self, patterns: Iterable[str], max_length: int) -> None:
        self._patterns = [re.compile(pattern) for pattern in patterns]
        self._max_length = max_length

    def __call__(self, args: Sequence[str]) -> str:
        text = " ".join(" ".join(args).split())  # newlines and tabs inside arguments too
        for pattern in self._patterns:
            text = pattern.sub(_masker, text)
        if len(text) > self._max_length:
            text = text[: max(self._max_length - 3, 0)] + "..."
        return text


def _masker(match: re.Match[str]) -> str:
    group = "secret" if "secret" in match.re.groupindex else 0
    start, end = match.span(group)
    if start < 0:
        return match.group(0)
    whole_start = match.start()
    text = match.group(0)
    return text[: start - whole_start] + REDACTED + text[end - whole_start :]


class _Previous(NamedTuple):
    cpu: float
    read: int
    write: int
    rss: int


class Users:
    """uid -> user name from the host's /etc/passwd (under host_root, not the container's),
    re-read when the file changes; a uid not in it is shown as the number."""

    def __init__(self, passwd: str) -> None:
        self._passwd = passwd
        self._stamp: Optional[tuple[int, int]] = None
        self._names: dict[int, str] = {}

    def refresh(self) -> None:
        try:
            status = os.stat(self._passwd)
            stamp = (status.st_mtime_ns, status.st_size)
            if stamp == self._stamp:
                return
            text = read_text(self._passwd)
        except OSError:
            self._names, self._stamp = {}, None
            return
        names: dict[int, str] = {}
        for line in text.splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit():
                names.setdefault(int(fields[2]), fields[0])
        self._names, self._stamp = names, stamp

    def name(self, uid: Optional[int]) -> str:
        if uid is None:
            return ""
        return self._names.get(uid, str(uid))


def _default_api() -> Any:
    import psutil  # noqa: PLC0415 - ~1 MiB, only for agents with the process view or groups

    return psutil


class ProcessTable:
    """scan() once per collection; records and view() read the latest pass."""

    def __init__(
        self,
        host: HostPaths,
        redactor: Redactor,
        want_exe: bool = False,
        api: Optional[Any] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api if api is not None else _default_api()
        # psutil reads the host's processes under host_root (a module global: one table per
        # agent); its own PID cache is not used, so nothing stale survives a change of root.
        self.api.PROCFS_PATH = host.proc
        self._redact = redactor
        self._attrs = [*_ATTRS, "exe"] if want_exe else list(_ATTRS)
        self._users = Users(host.in_root("/etc/passwd"))
        self._proc_dir = host.proc
        self._clock = clock
        self._procs: dict[int, Any] = {}
        self._previous: dict[tuple[int, float], _Previous] = {}
        self._scanned_at: Optional[float] = None
        self._interval = 0.0
        self.records: list[ProcessRecord] = []
        # Of the latest pass: soft RLIMIT_NOFILE by PID (processes over FD_FLOOR whose limit was
        # read), and the non-root users over TASKS_FLOOR tasks whose RLIMIT_NPROC was read.
        self.fd_limits: dict[int, int] = {}
        self.user_tasks: list[UserTasks] = []
        # The rankings of the latest pass, by `top`: between passes the view is not ranked again.
        self._rankings: tuple[list[ProcessRecord], int, dict[str, tuple[ProcessSummary, ...]]]
        self._rankings = ([], 0, {})
        # Processes skipped over the table's life: exited between listing and reading, or
        # unreadable (a stat file psutil cannot parse, an I/O error).
        self.skipped = {"exited": 0, "unreadable": 0}

    def refresh(self, every: float) -> list[ProcessRecord]:
        """The latest pass, made anew when `every` seconds have gone since it (0: each call).
        A tenth of slack: a pass due every 60 s at a 15 s interval must not slip to 75 s because
        the 60th second came a few milliseconds early."""
        if self._scanned_at is None or self._clock() - self._scanned_at >= 0.9 * every:
            return self.scan()
        return self.records

    def scan(self) -> list[ProcessRecord]:
        api = self.api
        gone = (api.NoSuchProcess,)
        now = self._clock()
        self._interval = 0.0 if self._scanned_at is None else now - self._scanned_at
        self._scanned_at = now
        self._users.refresh()
        procs: dict[int, Any] = {}
        previous: dict[tuple[int, float], _Previous] = {}
        records: list[ProcessRecord] = []
        for pid in api.pids():
            try:
                proc, info = self._read(pid)
                created = _created(api, proc)
            except gone:  # exited since pids(), zombies included once reaped
                self.skipped["exited"] += 1
                continue
            except (OSError, ValueError, IndexError):  # one malformed process, not the pass
                self.skipped["unreadable"] += 1
                continue
            procs[pid] = proc
            record = self._record(pid, created, info)
            previous[(pid, created)] = _Previous(
                record.cpu_user + record.cpu_system,
                record.read_bytes,
                record.write_bytes,
                record.rss,
            )
            records.append(record)
        self._procs, self._previous, self.records = procs, previous, records
        self.fd_limits = {
            r.pid: limit
            for r in records
            if r.open_fds >= FD_FLOOR and (limit := self._limit(r.pid, resource.RLIMIT_NOFILE))
        }
        self.user_tasks = self._user_tasks(records)
        return records

    def _user_tasks(self, records: list[ProcessRecord]) -> list[UserTasks]:
        """Users other than root (exempt from RLIMIT_NPROC) running TASKS_FLOOR tasks or more,
        with the RLIMIT_NPROC of one process each: the newest that can be read."""
        tasks: Counter[int] = Counter()
        for record in records:
            if record.uid > 0:
                tasks[record.uid] += max(record.threads, 1)
        busy = {uid for uid, count in tasks.items() if count >= TASKS_FLOOR}
        # The kernel checks the forking process's own limit, but a user's processes normally
        # share one (inherited from the login session or the service's LimitNPROC), so one read
        # per user per pass stands for all of them: a pass over 600 processes of a user reads
        # one limit, not 600 (10 ms less of a ~100 ms pass where prlimit is refused and the file
        # is read). The newest process is read: in a fork loop it is the one
        # that forks next, and it was started under the user's current limits. A process that
        # cannot be read (exited since the listing) passes the turn to the next newest.
        limits: dict[int, int] = {}
        own = (r for r in records if r.uid in busy)
        for record in sorted(own, key=lambda r: (r.create_time, r.pid), reverse=True):
            if record.uid not in limits:
                limit = self._read_limit(record.pid, resource.RLIMIT_NPROC)
                if limit is not None:
                    limits[record.uid] = limit
        return [UserTasks(uid, tasks[uid], limits.get(uid, 0)) for uid in sorted(busy)]

    def fd_ratio(self) -> float:
        """The highest ratio of open fds to the soft RLIMIT_NOFILE over the latest pass's
        processes (those under FD_FLOOR fds count as 0)."""
        limits = self.fd_limits
        return max((r.open_fds / limits[r.pid] for r in self.records if r.pid in limits),
                   default=0.0)  # fmt: skip

    def task_ratio(self) -> float:
        """The highest ratio of a non-root user's tasks to its RLIMIT_NPROC."""
        return max((u.tasks / u.limit for u in self.user_tasks if u.limit), default=0.0)

    def _read(self, pid: int) -> tuple[Any, dict[str, Any]]:
        """The process's Process object and attributes. A cached Process whose PID was reused
        raises NoSuchProcess: psutil's ppid() compares the identity (PID, create time) with the
        process now at that PID (tests/unit/test_proctable.py checks that it still does), and
        the new process gets a Process of its own. Raises NoSuchProcess when the PID is gone."""
        proc = self._procs.get(pid)
        if proc is not None:
            try:
                return proc, proc.as_dict(self._attrs, ad_value=None)
            except self.api.NoSuchProcess:  # exited, or its PID reused: try a fresh one
                pass
        proc = self.api.Process(pid)
        return proc, proc.as_dict(self._attrs, ad_value=None)

    def _record(self, pid: int, created: float, info: dict[str, Any]) -> ProcessRecord:
        cpu, memory, io = info["cpu_times"], info["memory_info"], info["io_counters"]
        ctx, uids = info["num_ctx_switches"], info["uids"]
        cpu_user = cpu.user if cpu is not None else 0.0
        cpu_system = cpu.system if cpu is not None else 0.0
        rss = memory.rss if memory is not None else 0
        read = io.read_bytes if io is not None else -1
        write = io.write_bytes if io is not None else -1
        args = tuple(info["cmdline"] or ())
        before = self._previous.get((pid, created))
        return ProcessRecord(
            pid=pid,
            ppid=info["ppid"] or 0,
            create_time=created,
            name=info["name"] or "",
            exe=info.get("exe") or "",
            args=args,
            user=self._users.name(uids.real if uids is not None else None),
            status=info["status"] or "",
            cpu_user=cpu_user,
            cpu_system=cpu_system,
            rss=rss,
            vms=memory.vms if memory is not None else 0,
            read_bytes=read,
            write_bytes=write,
            open_fds=info["num_fds"] if info["num_fds"] is not None else -1,
            threads=info["num_threads"] or 0,
            ctx_voluntary=ctx.voluntary if ctx is not None else 0,
            ctx_involuntary=ctx.involuntary if ctx is not None else 0,
            cpu_delta=0.0 if before is None else max(cpu_user + cpu_system - before.cpu, 0.0),
            read_delta=_delta(read, before.read) if before else 0,
            write_delta=_delta(write, before.write) if before else 0,
            rss_delta=0 if before is None else rss - before.rss,
            new=before is None,
            uid=uids.real if uids is not None else -1,
        )

    def fd_limit(self, pid: int) -> int:
        """The soft RLIMIT_NOFILE of a process of the latest pass; 0 when unknown or unlimited."""
        known = self.fd_limits.get(pid)
        return known if known is not None else self._limit(pid, resource.RLIMIT_NOFILE)

    def _limit(self, pid: int, which: int) -> int:
        """A soft limit of a process of the latest pass; 0 when unknown or unlimited."""
        return self._read_limit(pid, which) or 0

    def _read_limit(self, pid: int, which: int) -> Optional[int]:
        """A soft limit of a process of the latest pass, 0 when unlimited, None when it cannot
        be read (the process is gone). One prlimit call, and /proc/PID/limits only when prlimit
        is refused (another user's process, the agent without CAP_SYS_RESOURCE). Reading the
        file alone would be one code path, but it is the slower one: about 1 us a process for
        prlimit against 11-30 us for open, read, close and parsing the file, while a refused
        prlimit adds only 2-3 us to the file read (600 processes, 2 shared cores)."""
        proc = self._procs.get(pid)
        if proc is None:
            return None
        try:
            soft, _ = proc.rlimit(which)
        except self.api.AccessDenied:  # another user's process and the agent not root
            return _limit_in_file(os.path.join(self._proc_dir, str(pid), "limits"), which)
        except (self.api.Error, OSError):  # gone
            return None
        return int(soft) if soft > 0 else 0

    def view(self, top: int, timestamp: float) -> ProcessView:
        """The top processes of the latest pass for each ranking, at most `top` each. Rankings
        by a rate (CPU, I/O, forks) leave out processes with none."""
        records = self.records
        ranked, ranked_top, rankings = self._rankings
        if ranked is not records or ranked_top != top:
            rankings = self._rank(records, top)
            self._rankings = (records, top, rankings)
        return ProcessView(timestamp, len(records), rankings)

    def _rank(
        self, records: list[ProcessRecord], top: int
    ) -> dict[str, tuple[ProcessSummary, ...]]:
        seconds = self._interval
        forks = Counter(r.ppid for r in records if r.new) if seconds > 0 else Counter()
        by_pid = {r.pid: r for r in records}

        def summary(
            record: ProcessRecord, tasks: int = 0, limit: int = 0, user_tasks: int = 0
        ) -> ProcessSummary:
            per_second = 1.0 / seconds if seconds > 0 else 0.0
            return ProcessSummary(
                pid=record.pid,
                name=record.name,
                user=record.user,
                cmdline=self._redact(record.args),  # only the few shown: it costs ~20 us each
                cpu_ratio=round(record.cpu_delta * per_second, 4),
                rss_bytes=record.rss,
                rss_change_bytes=record.rss_delta,
                read_bytes_per_second=round(record.read_delta * per_second, 1),
                write_bytes_per_second=round(record.write_delta * per_second, 1),
                open_fds=record.open_fds,
                forks=forks.get(record.pid, 0),
                new=record.new,
                tasks=tasks,
                limit=limit,
                user_tasks=user_tasks,
            )

        keys: dict[str, Callable[[ProcessRecord], float]] = {
            "cpu": lambda r: r.cpu_delta,
            "memory": lambda r: r.rss,
            "io": lambda r: r.read_delta + r.write_delta,
            "write": lambda r: r.write_delta,
            "fds": lambda r: r.open_fds,
        }
        rankings: dict[str, tuple[ProcessSummary, ...]] = {}
        for ranking in RANKINGS:
            if ranking == "forks":
                parents = [by_pid[pid] for pid, _ in forks.most_common(top) if pid in by_pid]
                rankings[ranking] = tuple(summary(r) for r in parents)
                continue
            if ranking == "fd_limit":
                limits = self.fd_limits
                near = [r for r in records if r.pid in limits]
                chosen = heapq.nlargest(top, near, key=lambda r: r.open_fds / limits[r.pid])
                rankings[ranking] = tuple(summary(r, 0, limits[r.pid]) for r in chosen)
                continue
            if ranking == "process_limit":
                rankings[ranking] = self._rank_user(records, top, summary)
                continue
            rank = keys[ranking]
            chosen = heapq.nlargest(top, records, key=rank)
            rankings[ranking] = tuple(summary(r) for r in chosen if rank(r) > 0)
        return rankings

    def _rank_user(
        self,
        records: list[ProcessRecord],
        top: int,
        summary: Callable[[ProcessRecord, int, int, int], ProcessSummary],
    ) -> tuple[ProcessSummary, ...]:
        """The processes of the user nearest its RLIMIT_NPROC, those with the most tasks under
        them (their threads and their descendants' of that user: a fork loop's root) first."""
        limited = [u for u in self.user_tasks if u.limit]
        if not limited:
            return ()
        worst = max(limited, key=lambda u: u.tasks / u.limit)
        own = sorted(
            (r for r in records if r.uid == worst.uid), key=lambda r: (r.create_time, r.pid)
        )
        tasks = {r.pid: max(r.threads, 1) for r in own}
        for record in reversed(own):  # a child starts after its parent: children first
            if record.ppid in tasks and record.ppid != record.pid:
                tasks[record.ppid] += tasks[record.pid]
        chosen = heapq.nlargest(top, own, key=lambda r: tasks[r.pid])
        return tuple(summary(r, tasks[r.pid], worst.limit, worst.tasks) for r in chosen)


def _limit_in_file(path: str, which: int) -> Optional[int]:
    """A soft limit from /proc/PID/limits, which every user may read (prlimit on another user's
    process needs CAP_SYS_RESOURCE); 0 when unlimited, None when unknown."""
    try:
        text = read_text(path)
    except OSError:  # gone
        return None
    name = _LIMIT_LINES[which]
    for line in text.splitlines():
        if line.startswith(name):
            soft = line[len(name) :].split()[:1]
            return int(soft[0]) if soft and soft[0].isdigit() else 0  # else "unlimited"
    return None


def _created(api: Any, proc: Any) -> float:
    try:
        return float(proc.create_time())
    except api.ZombieProcess:  # its stat was unreadable: still counted, as a zombie
        return 0.0


def _delta(now: int, before: int) -> int:
    return max(now - before, 0) if now >= 0 and before >= 0 else 0
