"""Shared helpers for the benchmarks: process-tree accounting from /proc, a Prometheus-like
scraper on loopback, small statistics and result files. Standard library only."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import math
import os
import platform
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
OUT = Path(os.environ.get("BENCH_OUT", BENCH / "out"))
TICKS = os.sysconf("SC_CLK_TCK")

# What Prometheus sends when it scrapes.
SCRAPE_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,"
    "*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.45.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


# --- processes ------------------------------------------------------------------------------
def _stat_fields(pid: int) -> Optional[list[str]]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # fields after "comm)": index 0 is state (field 3 of proc(5))
    return data.rsplit(b")", 1)[1].decode().split()


def tree(root: int) -> list[int]:
    """root and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    result, todo = [], [root]
    while todo:
        pid = todo.pop()
        result.append(pid)
        todo.extend(children.get(pid, ()))
    return result


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of every live process of the tree, plus what the root reaped (cutime+cstime)."""
    total = 0
    for pid in tree(root):
        fields = _stat_fields(pid)
        if not fields:
            continue
        total += int(fields[11]) + int(fields[12])
        if pid == root:
            total += int(fields[13]) + int(fields[14])
    return total / TICKS


def tree_memory_kib(root: int) -> dict[str, int]:
    """Rss and Pss summed over the tree, from /proc/PID/smaps_rollup (KiB)."""
    rss = pss = 0
    members = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            members += 1
        except OSError:
            continue
    return {"rss_kib": rss, "pss_kib": pss, "processes": members}


def threads(root: int) -> int:
    count = 0
    for pid in tree(root):
        with contextlib.suppress(OSError):
            count += len(os.listdir(f"/proc/{pid}/task"))
    return count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[Any], timeout: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL; True if it exited. A process stuck in the kernel (uninterruptible
    sleep, e.g. a hung statfs) can outlive even SIGKILL for a while: wait, then give up rather
    than abort the benchmark."""
    if process.poll() is not None:
        return True
    process.terminate()
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        pass
    process.kill()
    try:
        process.wait(60)
        return True
    except subprocess.TimeoutExpired:
        log(f"pid {process.pid} did not exit 60 s after SIGKILL; going on")
        return False


# --- scraping -------------------------------------------------------------------------------
class Scraper:
    """One keep-alive connection, like a Prometheus scrape loop. Returns (seconds, status, body)."""

    def __init__(self, port: int, path: str, timeout: float = 10.0) -> None:
        self.port, self.path, self.timeout = port, path, timeout
        self._conn: Optional[http.client.HTTPConnection] = None

    def get(self) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            try:
                self._conn.request("GET", self.path, headers=SCRAPE_HEADERS)
                response = self._conn.getresponse()
                body = response.read()
                status = response.status
                if response.getheader("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return time.perf_counter() - started, status, body
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    return time.perf_counter() - started, 0, b""
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def wait_first_good(  # noqa: PLR0917
    port: int, path: str, marker: bytes, started: float, timeout: float, process: Any
) -> Optional[float]:
    """Poll every 10 ms with a fresh connection until a 200 whose body holds `marker`; seconds
    since `started` (a perf_counter value), or None on timeout or process exit."""
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            return None
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path, headers=SCRAPE_HEADERS)
            response = conn.getresponse()
            body = response.read()
            if response.getheader("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            conn.close()
            if response.status == 200 and marker in body:
                return time.perf_counter() - started
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    return None


# --- statistics -----------------------------------------------------------------------------
def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    data = sorted(values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values: Iterable[float]) -> float:
    return quantile(list(values), 0.5)


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) on log(x)."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    sxy = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
    return sxy / sxx


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((a - mx) ** 2 for a in xs)
    slope = sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def growth_verdict(slope: float) -> str:
    if slope <= 0.15:
        return "flat (constant)"
    if slope < 0.9:
        return "sublinear"
    if slope <= 1.1:
        return "linear"
    return "superlinear"


# --- results --------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(
                cmd, check=False, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            model = next(
                (line.split(":", 1)[1].strip() for line in handle if "model name" in line), ""
            )
    except OSError:
        pass
    return {
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "git": run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(run("git", "-C", str(ROOT), "status", "--porcelain", "--", "agent")),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def git_head() -> str:
    """Commit of the work tree now (others commit while a long benchmark runs), '+' if agent/ has
    uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "agent"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+" if dirty else "")


def agent_commit() -> str:
    """The last commit that changed agent/ (the code a run measures: commits to docs or bench
    files while a long benchmark runs do not make it another agent), '+' if agent/ has
    uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "agent"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("+" if git_head().endswith("+") else "")


def write_json(name: str, document: dict[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def tree_cpu_ns(root: int) -> int:
    """CPU time of every live thread of the tree from /proc/PID/task/TID/schedstat (ns resolution;
    threads that already exited are not counted, so use it over windows where threads persist)."""
    total = 0
    for pid in tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as handle:
                    total += int(handle.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def series_count(page: bytes) -> int:
    return sum(1 for line in page.splitlines() if line and not line.startswith(b"#"))


def metric_value(page: bytes, name: str) -> float:
    prefix = name.encode() + b" "
    for line in page.splitlines():
        if line.startswith(prefix):
            return float(line.split()[1])
    return float("nan")
