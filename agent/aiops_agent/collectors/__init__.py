"""Collectors: each turns one part of the host into metric families. A collector is any object
with a `name` and a `collect() -> list[MetricFamily]`; the registry below builds the enabled ones
from config and knows nothing else about them, and collect_once runs them behind an error
boundary."""

from __future__ import annotations

import time
from typing import Protocol

from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily
from aiops_agent.base.naming import COMPAT_PREFIX, own_host_name
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config.schema import CollectorsSection


class Collector(Protocol):
    name: str

    def collect(self) -> list[MetricFamily]: ...


# Each collector's name is its switch, collectors.<name>.enabled; the list is also the order of
# collection and of the families on /metrics.
COLLECTORS = LazyRegistry(
    {
        "cpu": "aiops_agent.collectors.cpu:CpuCollector",
        "loadavg": "aiops_agent.collectors.loadavg:LoadavgCollector",
        "pressure": "aiops_agent.collectors.pressure:PressureCollector",
        "meminfo": "aiops_agent.collectors.meminfo:MeminfoCollector",
        "filesystem": "aiops_agent.collectors.filesystem:FilesystemCollector",
        "diskstats": "aiops_agent.collectors.diskstats:DiskstatsCollector",
        "netdev": "aiops_agent.collectors.netdev:NetdevCollector",
        "netclass": "aiops_agent.collectors.netclass:NetclassCollector",
        "netstack": "aiops_agent.collectors.netstack:NetstackCollector",
        "processes": "aiops_agent.collectors.processes:ProcessesCollector",
        "filefd": "aiops_agent.collectors.filefd:FilefdCollector",
        "time": "aiops_agent.collectors.timeinfo:TimeCollector",
        "uname": "aiops_agent.collectors.uname:UnameCollector",
        "hwmon": "aiops_agent.collectors.hwmon:HwmonCollector",
    }
)
# The collectors built with settings beyond their switch: the collectors.<section> they take.
# netclass and netstack take netdev's device filters: one set of interfaces for all three.
_SETTINGS = {
    "filesystem": "filesystem",
    "diskstats": "diskstats",
    "netdev": "netdev",
    "netclass": "netdev",
    "netstack": "netdev",
}


def build_collectors(section: CollectorsSection, host: HostPaths) -> list[Collector]:
    """The enabled collectors, in registry order. A switched-off collector is never imported, so
    it costs no memory."""
    collectors = []
    for name in COLLECTORS.names():
        if not getattr(section, name).enabled:
            continue
        factory = COLLECTORS.load(name)
        settings = _SETTINGS.get(name)
        collector = factory(getattr(section, settings), host) if settings else factory(host)
        collectors.append(collector)
    return collectors


class CollectorStats:
    __slots__ = ("duration", "errors", "success")

    def __init__(self) -> None:
        self.duration = 0.0
        self.success = 0.0
        self.errors = 0


def collect_once(
    collectors: list[Collector],
    stats: dict[str, CollectorStats],
    errors_log: RateLimitedLog,
    compat_names: bool,
) -> list[MetricFamily]:
    """Run every collector, isolating failures: one that raises is counted and logged, the
    others still publish."""
    families: list[MetricFamily] = []
    for collector in collectors:
        entry = stats.setdefault(collector.name, CollectorStats())
        started = time.perf_counter()
        try:
            produced = collector.collect()
            entry.success = 1.0
        except Exception as error:  # any failure of one collector, by design
            produced = []
            entry.success = 0.0
            entry.errors += 1
            errors_log.error(
                collector.name,
                "collector failed",
                collector=collector.name,
                error=f"{type(error).__name__}: {error}",
            )
        entry.duration = time.perf_counter() - started
        families.extend(produced)
    if not compat_names:
        families = [
            family._replace(name=own_host_name(family.name, family.kind))
            if family.name.startswith(COMPAT_PREFIX)
            else family
            for family in families
        ]
    return families
