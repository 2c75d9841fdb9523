"""CPU time by mode, utilisation, and the kernel counters of /proc/stat (node_exporter's cpu and
stat collectors)."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors.host import HostPaths, read_text

# /proc/stat's per-CPU columns, in order; guest time is also counted in user and nice.
_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_GUEST_MODES = ("user", "nice")
_IDLE_MODES = ("idle", "iowait")


class CpuCollector:
    name = "cpu"

    def __init__(self, host: HostPaths) -> None:
        self._stat_path = os.path.join(host.proc, "stat")
        self._ticks_per_second = float(os.sysconf("SC_CLK_TCK"))
        self._previous_totals: tuple[float, float] | None = None  # (busy, all) seconds

    def collect(self) -> list[MetricFamily]:
        seconds = counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.")
        guest = counter(
            "node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode."
        )
        families = [seconds, guest]
        busy_total = all_total = 0.0
        for line in read_text(self._stat_path).splitlines():
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name != "cpu":
                cpu = name[3:]
                values = [int(v) / self._ticks_per_second for v in rest.split()]
                for mode, value in zip(_MODES, values):
                    seconds.samples.append(Sample((("cpu", cpu), ("mode", mode)), value))
                    all_total += value
                    if mode not in _IDLE_MODES:
                        busy_total += value
                for mode, value in zip(_GUEST_MODES, values[8:10]):
                    guest.samples.append(Sample((("cpu", cpu), ("mode", mode)), value))
            elif name in _STAT_COUNTERS:
                metric, kind, help_text = _STAT_COUNTERS[name]
                value = float(rest.split()[0])
                families.append(MetricFamily(metric, kind, help_text, [Sample((), value)]))
        families.append(self._utilisation(busy_total, all_total))
        return families

    def _utilisation(self, busy: float, total: float) -> MetricFamily:
        """Share of CPU time, across all CPUs, not idle or waiting for I/O since the last
        collection: the figure humans and threshold rules reason in."""
        family = gauge(
            "aiops_agent_cpu_utilization_ratio",
            "Fraction of CPU time spent busy (not idle or iowait) since the previous collection.",
        )
        if self._previous_totals is not None:
            busy_delta = busy - self._previous_totals[0]
            total_delta = total - self._previous_totals[1]
            if total_delta > 0:
                family.samples.append(Sample((), min(max(busy_delta / total_delta, 0.0), 1.0)))
        self._previous_totals = (busy, total)
        return family


_STAT_COUNTERS = {
    "ctxt": ("node_context_switches_total", "counter", "Total number of context switches."),
    "intr": ("node_intr_total", "counter", "Total number of interrupts serviced."),
    "processes": ("node_forks_total", "counter", "Total number of forks."),
    "procs_running": ("node_procs_running", "gauge", "Number of processes in runnable state."),
    "procs_blocked": (
        "node_procs_blocked",
        "gauge",
        "Number of processes blocked waiting for I/O to complete.",
    ),
}
