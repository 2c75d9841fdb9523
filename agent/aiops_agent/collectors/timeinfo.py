"""Wall-clock time, boot time, uptime and the kernel's clock sources (node_exporter's time and stat
collectors)."""

from __future__ import annotations

import os
import re
import time

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text


class TimeCollector:
    name = "time"

    def __init__(self, host: HostPaths) -> None:
        self._stat_path = os.path.join(host.proc, "stat")
        self._clocksource_dir = os.path.join(host.sys, "devices/system/clocksource")

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
        families.extend(self._clocksources())
        return families

    def _clocksources(self) -> list[MetricFamily]:
        available = gauge(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        )
        current = gauge(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        )
        try:
            entries = os.listdir(self._clocksource_dir)
        except OSError:
            entries = []
        devices = sorted(e for e in entries if re.fullmatch(r"clocksource\d+", e))
        for index, entry in enumerate(devices):  # node_exporter labels them by position
            directory = os.path.join(self._clocksource_dir, entry)
            try:
                names = read_text(os.path.join(directory, "available_clocksource")).split()
                active = read_text(os.path.join(directory, "current_clocksource")).strip()
            except OSError:
                continue
            device = str(index)
            for name in names:
                available.samples.append(Sample((("clocksource", name), ("device", device)), 1.0))
            current.samples.append(Sample((("clocksource", active), ("device", device)), 1.0))
        return [available, current]
