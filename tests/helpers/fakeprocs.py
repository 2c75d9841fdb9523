"""Fake process tables for unit tests of the process layer: psutil's surface the table uses
(pids, Process, as_dict, is_running, create_time, rlimit) over a dict that tests change between
and during passes, raising psutil's own exceptions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Optional

import psutil

from aiops_agent.collectors.host import HostPaths
from aiops_agent.collectors.proctable import ProcessTable, Redactor
from aiops_agent.config.schema import DEFAULT_REDACT


class FakeApi:
    """psutil's surface the table uses, over a dict pid -> process spec that tests change between
    (and during) passes. Exceptions are psutil's own, so the table's except clauses are tested."""

    NoSuchProcess = psutil.NoSuchProcess
    ZombieProcess = psutil.ZombieProcess
    AccessDenied = psutil.AccessDenied
    Error = psutil.Error

    def __init__(self) -> None:
        self.PROCFS_PATH = "/proc"
        self.table: dict[int, dict[str, Any]] = {}
        self.created: list[int] = []  # PIDs a Process was built for, in order
        self.on_as_dict: Optional[Any] = None  # called with the pid before each as_dict
        self.rlimit_calls = 0

    def add(self, pid: int, create_time: float = 100.0, **info: Any) -> None:
        spec: dict[str, Any] = {
            "create_time": create_time,
            "ppid": 1,
            "name": f"proc{pid}",
            "cmdline": [f"/bin/proc{pid}"],
            "uids": SimpleNamespace(real=0),
            "status": "sleeping",
            "cpu_times": SimpleNamespace(user=0.0, system=0.0),
            "memory_info": SimpleNamespace(rss=1000, vms=2000),
            "io_counters": SimpleNamespace(read_bytes=0, write_bytes=0),
            "num_fds": 3,
            "num_threads": 1,
            "num_ctx_switches": SimpleNamespace(voluntary=0, involuntary=0),
        }
        spec.update(info)
        self.table[pid] = spec

    def pids(self) -> list[int]:
        return sorted(self.table)

    def Process(self, pid: int) -> FakeProcess:
        if pid not in self.table:
            raise psutil.NoSuchProcess(pid)
        self.created.append(pid)
        return FakeProcess(self, pid, self.table[pid]["create_time"])


class FakeProcess:
    def __init__(self, api: FakeApi, pid: int, create_time: float) -> None:
        self.api, self.pid, self._create_time = api, pid, create_time

    def is_running(self) -> bool:
        spec = self.api.table.get(self.pid)
        return spec is not None and spec["create_time"] == self._create_time

    def create_time(self) -> float:
        return self._create_time

    def as_dict(self, attrs: list[str], ad_value: Any = None) -> dict[str, Any]:
        """Like psutil: AccessDenied and ZombieProcess give ad_value for that attribute,
        NoSuchProcess (the process exited) is raised."""
        if self.api.on_as_dict is not None:
            self.api.on_as_dict(self.pid)
        spec = self.api.table.get(self.pid)
        if spec is None or spec["create_time"] != self._create_time:
            raise psutil.NoSuchProcess(self.pid)
        result = {}
        for attr in attrs:
            value = spec.get(attr)
            if isinstance(value, type) and issubclass(value, psutil.Error):
                if value is psutil.NoSuchProcess:
                    raise psutil.NoSuchProcess(self.pid)
                value = ad_value
            result[attr] = value
        return result

    def rlimit(self, which: int) -> tuple[int, int]:
        """The spec's rlimits {resource: (soft, hard) or a psutil exception to raise}, else
        1024/4096; counts the calls."""
        spec = self.api.table.get(self.pid)
        if spec is None:
            raise psutil.NoSuchProcess(self.pid)
        self.api.rlimit_calls += 1
        limit = spec.get("rlimits", {}).get(which, (1024, 4096))
        if isinstance(limit, type) and issubclass(limit, psutil.Error):
            raise limit(self.pid)
        soft, hard = limit
        return (soft, hard)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def table_of(
    api: FakeApi, clock: Optional[Clock] = None, root: str = "/", want_exe: bool = False
) -> ProcessTable:
    redactor = Redactor(DEFAULT_REDACT, 200)
    host = HostPaths.under(root)
    return ProcessTable(host, redactor, want_exe=want_exe, api=api, clock=clock or Clock())
