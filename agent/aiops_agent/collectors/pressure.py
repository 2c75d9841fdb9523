"""Pressure stall information from /proc/pressure (node_exporter's pressure collector): how long
tasks waited for CPU, I/O and memory. Kernels without PSI (before 4.20, or booted with psi=0)
publish nothing. Switched by collectors.pressure."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, counter
from aiops_agent.collectors.host import HostPaths, read_text

# (resource, line, metric, help) as node_exporter 1.9 names them; it ignores "full" for cpu and
# reads only "full" for irq (Linux 6.1 and later, with CONFIG_IRQ_TIME_ACCOUNTING).
_FIELDS = (
    (
        "cpu",
        "some",
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time",
    ),
    (
        "io",
        "some",
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    (
        "io",
        "full",
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "memory",
        "some",
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory",
    ),
    (
        "memory",
        "full",
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
    (
        "irq",
        "full",
        "node_pressure_irq_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IRQ congestion",
    ),
)


def parse_pressure(text: str) -> dict[str, float]:
    """{"some": total µs, "full": total µs} from one /proc/pressure file."""
    totals = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for field in rest.split():
            name, _, value = field.partition("=")
            if name == "total":
                totals[kind] = float(value)
    return totals


class PressureCollector:
    name = "pressure"

    def __init__(self, host: HostPaths) -> None:
        self._dir = os.path.join(host.proc, "pressure")

    def collect(self) -> list[MetricFamily]:
        families = []
        parsed: dict[str, dict[str, float]] = {}
        for resource, kind, metric, help_text in _FIELDS:
            if resource not in parsed:
                try:
                    parsed[resource] = parse_pressure(read_text(os.path.join(self._dir, resource)))
                except OSError:  # no PSI on this kernel, or this resource not supported
                    parsed[resource] = {}
            value = parsed[resource].get(kind)
            if value is not None:
                # Divided twice, as node_exporter does, for bit-identical values.
                seconds = value / 1000.0 / 1000.0
                families.append(counter(metric, help_text, [Sample((), seconds)]))
        return families
