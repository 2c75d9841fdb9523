"""Memory and swap: every /proc/meminfo field under node_exporter's names, and the /proc/vmstat
paging and swapping counters its vmstat collector exposes by default."""

from __future__ import annotations

import os
import re

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text

# node_exporter's default --collector.vmstat.fields.
_VMSTAT_FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")


class MeminfoCollector:
    name = "meminfo"

    def __init__(self, host: HostPaths) -> None:
        self._meminfo = os.path.join(host.proc, "meminfo")
        self._vmstat = os.path.join(host.proc, "vmstat")

    def collect(self) -> list[MetricFamily]:
        families = []
        fields: dict[str, float] = {}
        for line in read_text(self._meminfo).splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if not parts:
                continue
            key = key.replace("(", "_").replace(")", "")
            value = float(parts[0])
            if len(parts) > 1 and parts[1] == "kB":
                value *= 1024
                key += "_bytes"
            fields[key] = value
            families.append(
                gauge(f"node_memory_{key}", f"Memory information field {key}.", [Sample((), value)])
            )
        total, available = fields.get("MemTotal_bytes"), fields.get("MemAvailable_bytes")
        if total and available is not None:
            families.append(
                gauge(
                    "aiops_agent_memory_utilization_ratio",
                    "Fraction of memory not available for new work: 1 - MemAvailable / MemTotal.",
                    [Sample((), 1.0 - available / total)],
                )
            )
        try:
            vmstat = read_text(self._vmstat)
        except OSError:  # node_exporter's vmstat collector fails alone; meminfo still counts
            vmstat = ""
        for line in vmstat.splitlines():
            key, _, value_text = line.partition(" ")
            if _VMSTAT_FIELDS.match(key):
                families.append(
                    MetricFamily(
                        f"node_vmstat_{key}",
                        "untyped",
                        f"/proc/vmstat information field {key}.",
                        [Sample((), float(value_text))],
                    )
                )
        return families
