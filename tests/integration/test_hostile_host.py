"""Hostile host drill: the agent keeps collecting and serving, and says what is wrong in its own
metrics, when
- collector inputs under /proc vanish, become directories or turn to garbage mid-run (a fake
  host_root tree copied from the real /proc): aiops_agent_collector_success{collector} 0 and
  aiops_agent_collector_errors_total rising, the other collectors unaffected, then recovery;
- a mount hangs (a FUSE file system whose statfs never answers, in a private mount namespace so
  nothing else on the machine can trip on it): aiops_agent_filesystem_stalled_mounts 1 and
  node_filesystem_device_error 1 for it, the loop on its cadence;
- the state directory is on a full file system (a 64 KiB tmpfs, filled):
  aiops_agent_state_dir_writable 0, then 1 once space is freed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest

from tests.helpers.agentproc import AgentProcess, running_agent

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Inputs of the collectors this drill watches, copied from the real host.
HOST_FILES = [
    "proc/stat",
    "proc/loadavg",
    "proc/meminfo",
    "proc/vmstat",
    "proc/diskstats",
    "proc/net/dev",
    "proc/sys/fs/file-nr",
    "sys/devices/system/cpu/online",
]


def metric(text: str, name: str, labels: str = "") -> Optional[float]:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def wait_until(
    agent: AgentProcess, condition: Callable[[str], bool], what: str, timeout: float = 15.0
) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page = agent.metrics()
        if condition(page):
            return page
        assert agent.alive(), f"agent died:\n{agent.stderr_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.2)


def success(page: str, collector: str) -> Optional[float]:
    return metric(page, "aiops_agent_collector_success", f'collector="{collector}"')


def errors(page: str, collector: str) -> float:
    return metric(page, "aiops_agent_collector_errors_total", f'collector="{collector}"') or 0.0


def assert_serving(agent: AgentProcess) -> None:
    assert agent.get("/healthz")[0] == 200
    assert agent.get("/readyz")[0] == 200


def make_host_tree(root: Path) -> None:
    for relative in HOST_FILES:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path("/", relative).read_bytes())
    (root / "proc/mounts").write_bytes(Path("/proc/self/mounts").read_bytes())


def test_proc_entries_that_vanish_or_break(tmp_path: Path) -> None:
    host = tmp_path / "host"
    make_host_tree(host)
    config = {"agent": {"interval": "1s", "host_root": str(host)}}
    watched = ("cpu", "loadavg", "meminfo")
    with running_agent(config) as agent:
        page = wait_until(
            agent, lambda p: all(success(p, c) == 1 for c in watched), "collectors healthy"
        )
        before = {c: errors(page, c) for c in watched}
        started = metric(page, "aiops_agent_collections_total") or 0.0
        t0 = time.monotonic()  # for the report only

        (host / "proc/loadavg").unlink()  # vanishes
        (host / "proc/meminfo").unlink()
        (host / "proc/meminfo").mkdir()  # unreadable: a directory now
        stat = (host / "proc/stat").read_text()
        (host / "proc/stat").write_text("cpu  not numbers at all\nintr x\n")  # garbage
        page = wait_until(
            agent, lambda p: all(success(p, c) == 0 for c in watched), "failures reported"
        )
        page = wait_until(
            agent,
            lambda p: all(errors(p, c) >= before[c] + 2 for c in watched),
            "errors_total rising",
        )
        assert_serving(agent)
        # What still works is still reported.
        assert success(page, "diskstats") == 1 and success(page, "filefd") == 1
        assert metric(page, "node_load1") is None  # no stale value left behind
        failed_for = time.monotonic() - t0

        (host / "proc/loadavg").write_bytes(Path("/proc/loadavg").read_bytes())
        (host / "proc/meminfo").rmdir()
        (host / "proc/meminfo").write_bytes(Path("/proc/meminfo").read_bytes())
        (host / "proc/stat").write_text(stat)
        page = wait_until(agent, lambda p: all(success(p, c) == 1 for c in watched), "recovery")
        assert metric(page, "node_load1") is not None
        elapsed = time.monotonic() - t0
        collections = (metric(page, "aiops_agent_collections_total") or 0.0) - started
        # The loop went on through the failures: each one was seen by a completed collection.
        assert collections >= 2, collections
        logged = {
            r.get("collector") for r in agent.log_records() if r.get("msg") == "collector failed"
        }
        assert set(watched) <= logged, logged
        print(
            f"\nvanishing /proc inputs: {len(watched)} collectors failed for {failed_for:.1f} s, "
            f"{collections:.0f} collections in {elapsed:.1f} s, recovered"
        )


def needs_root() -> None:
    assert os.geteuid() == 0, "this drill mounts file systems: run it as root (CI does)"


@contextmanager
def hung_mount_namespace(mountpoint: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A private mount namespace holding a FUSE mount whose statfs never returns (each request is
    logged to `log`). Yields the FUSE server; join its namespace with
    nsenter --mount=/proc/PID/ns/mnt. Killing the server aborts the connection, which releases
    every caller stuck in statfs."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-m",
         "tests.helpers.hangfs", str(mountpoint), str(log)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.strip() == b"ready", line + (server.stderr.read() if server.stderr else b"")
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


@pytest.mark.needs_root
def test_a_hung_mount_does_not_stall_the_loop(tmp_path: Path) -> None:
    needs_root()
    mountpoint = tmp_path / "hung"
    config = {
        "agent": {"interval": "1s"},
        "collectors": {"filesystem": {"stat_timeout": "500ms"}},
    }
    labels = (
        f'device="hangfs",device_error="mountpoint timeout",fstype="fuse.hangfs",'
        f'mountpoint="{mountpoint}"'
    )
    statfs_log = tmp_path / "statfs.log"
    with hung_mount_namespace(mountpoint, statfs_log) as server:
        prefix = ["nsenter", f"--mount=/proc/{server.pid}/ns/mnt", "--"]
        with running_agent(config, command_prefix=prefix) as agent:
            try:
                page = wait_until(
                    agent,
                    lambda p: metric(p, "node_filesystem_device_error", labels) == 1,
                    "the hung mount reported",
                )
                start = metric(page, "aiops_agent_collections_total") or 0.0
                page = wait_until(
                    agent,
                    lambda p: (metric(p, "aiops_agent_collections_total") or 0.0) >= start + 5,
                    "five more collections beside the hung mount",
                    timeout=60,
                )
                collections = (metric(page, "aiops_agent_collections_total") or 0.0) - start
                cycle = metric(page, "aiops_agent_collection_duration_seconds") or 0.0
                stalled = metric(page, "aiops_agent_filesystem_stalled_mounts")
                # The stuck statvfs is not waited for again, nor retried beside itself: in all
                # those collections the hung mount was asked once.
                asked = statfs_log.read_text(encoding="ascii").splitlines()
                assert len(asked) == 1, asked
                assert stalled == 1, stalled
                assert metric(page, "node_filesystem_device_error", labels) == 1
                assert success(page, "filesystem") == 1  # one mount's trouble, not the collector's
                root = 'mountpoint="/"'
                assert any(
                    line.startswith("node_filesystem_avail_bytes{") and root in line
                    for line in page.splitlines()
                ), "the healthy mounts are still reported"
                assert_serving(agent)
                print(
                    f"\nhung mount: stalled_mounts {stalled:.0f}, asked once in "
                    f"{collections:.0f} collections, latest cycle {cycle * 1000:.0f} ms"
                )
            finally:
                # Release the stuck statvfs before the agent stops, or its exit would wait on it.
                server.send_signal(signal.SIGTERM)
                server.wait(10)
            page = wait_until(
                agent,
                lambda p: metric(p, "aiops_agent_filesystem_stalled_mounts") == 0,
                "the stalled statvfs released once the server is gone",
            )


@pytest.mark.needs_root
def test_state_dir_on_a_full_file_system(tmp_path: Path) -> None:
    needs_root()
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0750", "tmpfs", str(state)], check=True
    )
    try:
        filler = state / "filler"
        descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(descriptor, b"\0" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(descriptor)
        with running_agent({"agent": {"interval": "1s", "state_dir": str(state)}}) as agent:
            page = wait_until(
                agent,
                lambda p: metric(p, "aiops_agent_state_dir_writable") == 0,
                "state dir reported unwritable",
            )
            start = metric(page, "aiops_agent_collections_total") or 0.0
            assert_serving(agent)
            page = wait_until(
                agent,
                lambda p: (metric(p, "aiops_agent_collections_total") or 0.0) >= start + 2,
                "collections go on with the state directory full",
                timeout=30,
            )
            assert metric(page, "aiops_agent_state_dir_writable") == 0
            logged = [
                r for r in agent.log_records() if r.get("msg") == "state directory not writable"
            ]
            assert logged and "space" in str(logged[0].get("error", "")).lower(), logged

            filler.unlink()
            wait_until(
                agent,
                lambda p: metric(p, "aiops_agent_state_dir_writable") == 1,
                "state dir writable again",
            )
            assert_serving(agent)
            print(
                f"\nfull state dir: writable 0 while full, 1 after freeing; errors logged {len(logged)}"
            )
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)
