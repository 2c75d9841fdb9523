"""The top-processes view shared by collection (which builds it from the process table), alerting
(which attaches it to alerts as their context) and notify (which renders it): plain values, no
psutil. Command lines in here are already redacted and truncated (collectors/proctable.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

# What an alert's context can name. swap ranks by resident memory (per-process swap needs
# /proc/PID/smaps, too costly every collection); filesystem by bytes written per second;
# fd_limit by open fds over the process's own RLIMIT_NOFILE; process_limit lists the processes of
# the user nearest its RLIMIT_NPROC, those with the most tasks under them (a fork loop's root)
# first.
RESOURCES = ("cpu", "memory", "swap", "io", "fds", "forks", "filesystem", "fd_limit",
             "process_limit")  # fmt: skip
# The ranking each resource reads.
RANKING_OF = {
    "cpu": "cpu",
    "memory": "memory",
    "swap": "memory",
    "io": "io",
    "fds": "fds",
    "forks": "forks",
    "filesystem": "write",
    "fd_limit": "fd_limit",
    "process_limit": "process_limit",
}
RANKINGS = ("cpu", "memory", "io", "write", "fds", "forks", "fd_limit", "process_limit")
# An anomaly alert's series (its `series` label) -> the resource it measures.
_SERIES_RESOURCE = (
    ("cpu", "cpu"),
    ("load", "cpu"),
    ("memory", "memory"),
    ("swap", "swap"),
    ("pswp", "swap"),
    ("disk", "io"),
    ("filesystem", "filesystem"),
    ("filefd", "fds"),
    ("forks", "forks"),
)


def resource_of_series(series: str) -> str:
    """The resource a series measures, by its name; "" when none applies (e.g. network)."""
    name = series.split("{", 1)[0]
    for word, resource in _SERIES_RESOURCE:
        if word in name:
            return resource
    return ""


class ProcessSummary(NamedTuple):
    pid: int
    name: str
    user: str
    cmdline: str  # redacted, truncated
    cpu_ratio: float  # CPU seconds per second since the previous collection (1.0 = one core)
    rss_bytes: int
    rss_change_bytes: int  # since the previous collection
    read_bytes_per_second: float
    write_bytes_per_second: float
    open_fds: int  # -1: not readable (another user's process, agent not root)
    forks: int  # its children started since the previous collection
    new: bool  # first seen in this collection: the rates are not known yet
    # Only in the fd_limit and process_limit rankings (0 elsewhere): its tasks (its threads and
    # those of its descendants of the same user), the limit the process is measured against (its
    # soft RLIMIT_NOFILE, or RLIMIT_NPROC), and its user's tasks.
    tasks: int = 0
    limit: int = 0
    user_tasks: int = 0

    def as_json(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ProcessSummary:
        """Also a record saved before the defaulted fields existed (an older agent's alerts)."""
        defaults: dict[str, Any] = cls._field_defaults
        values: dict[str, Any] = {
            name: record.get(name, defaults[name]) if name in defaults else record[name]
            for name in cls._fields
        }
        return cls(**values)

    def describe(self, resource: str) -> str:
        """One line for a human: 'pid 4242 stress (alice): 1.98 CPU cores, 12.3 MiB RSS'."""
        measures = {
            "cpu": f"{self.cpu_ratio:.2f} CPU cores",
            "memory": f"{_mib(self.rss_bytes)} RSS ({_signed_mib(self.rss_change_bytes)})",
            "io": f"{_mib(self.read_bytes_per_second)}/s read, "
            f"{_mib(self.write_bytes_per_second)}/s written",
            "write": f"{_mib(self.write_bytes_per_second)}/s written",
            "fds": f"{self.open_fds} open fds",
            "forks": f"{self.forks} children started",
            "fd_limit": f"{self.open_fds} open fds of its limit {self.limit}",
            "process_limit": f"{self.tasks} tasks with its descendants; {self.user or '?'} "
            f"runs {self.user_tasks} tasks of its limit {self.limit}",
        }
        measure = measures[RANKING_OF.get(resource, resource)]
        line = f"pid {self.pid} {self.name} ({self.user or '?'}): {measure}"
        return f"{line}: {self.cmdline}" if self.cmdline else line


class ProcessView(NamedTuple):
    """One collection's top processes per ranking, each at most `top` long."""

    timestamp: float
    processes: int  # processes seen in the pass
    rankings: dict[str, tuple[ProcessSummary, ...]]

    def top(self, resource: str) -> tuple[ProcessSummary, ...]:
        return self.rankings.get(RANKING_OF.get(resource, ""), ())


def annotation(resource: str, processes: tuple[ProcessSummary, ...]) -> str:
    """The top_processes annotation: one process per line."""
    return "\n".join(process.describe(resource) for process in processes)


def union(lists: Iterable[tuple[ProcessSummary, ...]]) -> tuple[ProcessSummary, ...]:
    """The processes of several alerts' contexts, each PID once (its first entry), in order: what
    a notification grouping those alerts lists as their shared top processes."""
    seen: dict[int, ProcessSummary] = {}
    for processes in lists:
        for process in processes:
            seen.setdefault(process.pid, process)
    return tuple(seen.values())


def _mib(value: float) -> str:
    return f"{value / 1048576:.1f} MiB"


def _signed_mib(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}{_mib(abs(value))}"
