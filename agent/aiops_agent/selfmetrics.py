"""The agent's own cost and state, as Prometheus' client libraries name process metrics."""

from __future__ import annotations

import os
import resource
import sys
import time

from aiops_agent import __version__
from aiops_agent.base.model import MetricFamily, Sample, counter, gauge

_PAGE_SIZE = resource.getpagesize()
_PYTHON_VERSION = ".".join(str(part) for part in sys.version_info[:3])
_TICKS = float(os.sysconf("SC_CLK_TCK"))


class ProcessMetrics:
    """Reads /proc/self like prometheus_client's ProcessCollector: one stat read per call."""

    def __init__(self) -> None:
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime"))
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        self._start_time = boot + int(fields[19]) / _TICKS
        self._max_fds = float(resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    def collect(self) -> list[MetricFamily]:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        return [
            counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                [Sample((), cpu)],
            ),
            gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                [Sample((), float(fields[20]))],
            ),
            gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                [Sample((), float(int(fields[21]) * _PAGE_SIZE))],
            ),
            gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                [Sample((), self._start_time)],
            ),
            gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                [Sample((), float(len(os.listdir("/proc/self/fd"))))],
            ),
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                [Sample((), self._max_fds)],
            ),
        ]


def build_info() -> MetricFamily:
    return gauge(
        "aiops_agent_build_info",
        "A metric with a constant '1' value labeled by the agent's version and Python's.",
        [Sample((("version", __version__), ("pythonversion", _PYTHON_VERSION)), 1.0)],
    )


def now() -> float:
    return time.time()
