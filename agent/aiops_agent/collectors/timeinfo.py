"""Wall-clock time, boot time and uptime (node_exporter's time and stat collectors)."""

from __future__ import annotations

import os
import time

from aiops_agent.host import HostPaths, read_text
from aiops_agent.model import MetricFamily, Sample, gauge


class TimeCollector:
    name = "time"

    def __init__(self, host: HostPaths) -> None:
        self._stat_path = os.path.join(host.proc, "stat")

    def collect(self) -> list[MetricFamily]:
        now = time.time()
        families = [
            gauge(
                "node_time_seconds", "System time in seconds since epoch (1970).", [Sample((), now)]
            )
        ]
        local = time.localtime(now)
        families.append(
            gauge(
                "node_time_zone_offset_seconds",
                "System time zone offset in seconds.",
                [Sample((("time_zone", local.tm_zone),), float(local.tm_gmtoff))],
            )
        )
        for line in read_text(self._stat_path).splitlines():
            if line.startswith("btime "):
                boot = float(line.split()[1])
                families.append(
                    gauge(
                        "node_boot_time_seconds", "Node boot time, in unixtime.", [Sample((), boot)]
                    )
                )
                families.append(
                    gauge(
                        "aiops_agent_host_uptime_seconds",
                        "Seconds since the host booted.",
                        [Sample((), max(now - boot, 0.0))],
                    )
                )
                break
        return families
