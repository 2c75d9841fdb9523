"""Load averages (node_exporter's loadavg collector)."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text


class LoadavgCollector:
    name = "loadavg"

    def __init__(self, host: HostPaths) -> None:
        self._path = os.path.join(host.proc, "loadavg")
        self._cpus_path = os.path.join(host.sys, "devices/system/cpu/online")

    def collect(self) -> list[MetricFamily]:
        one, five, fifteen = (float(v) for v in read_text(self._path).split()[:3])
        families = [
            gauge("node_load1", "1m load average.", [Sample((), one)]),
            gauge("node_load5", "5m load average.", [Sample((), five)]),
            gauge("node_load15", "15m load average.", [Sample((), fifteen)]),
        ]
        cpus = self._online_cpus()
        if cpus:
            families.append(
                gauge(
                    "aiops_agent_load1_per_cpu",
                    "1m load average divided by the number of online CPUs.",
                    [Sample((), one / cpus)],
                )
            )
        return families

    def _online_cpus(self) -> int:
        """Count from the host's sysfs ("0-3,6"), so a CPU-limited container still sees the node."""
        try:
            text = read_text(self._cpus_path).strip()
        except OSError:
            return os.cpu_count() or 0
        count = 0
        for part in filter(None, text.split(",")):
            low, _, high = part.partition("-")
            count += int(high or low) - int(low) + 1
        return count
