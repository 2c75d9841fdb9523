"""Collectors: each turns one part of the host into metric families. A collector is any object
with a `name` and a `collect() -> list[MetricFamily]`; the registry below builds the enabled ones
from config and knows nothing else about them, and collect_once runs them behind an error
boundary."""

from __future__ import annotations

import time
from typing import Callable, Protocol

from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily
from aiops_agent.base.naming import COMPAT_PREFIX, own_host_name
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config.schema import CollectorsSection


class Collector(Protocol):
    name: str

    def collect(self) -> list[MetricFamily]: ...


def build_collectors(section: CollectorsSection, host: HostPaths) -> list[Collector]:
    """The enabled collectors, in a fixed order. Imports are local so a switched-off collector costs
    no memory."""
    factories: list[Callable[[], Collector]] = []

    def register(name: str, factory: Callable[[], Collector]) -> None:
        """`name` is the collector's own name and its switch, collectors.<name>.enabled."""
        if getattr(section, name).enabled:
            factories.append(factory)

    from aiops_agent.collectors import (  # noqa: PLC0415
        cpu,
        diskstats,
        filefd,
        filesystem,
        hwmon,
        loadavg,
        meminfo,
        netclass,
        netdev,
        netstack,
        pressure,
        processes,
        timeinfo,
        uname,
    )

    register("cpu", lambda: cpu.CpuCollector(host))
    register("loadavg", lambda: loadavg.LoadavgCollector(host))
    register("pressure", lambda: pressure.PressureCollector(host))
    register("meminfo", lambda: meminfo.MeminfoCollector(host))
    register("filesystem", lambda: filesystem.FilesystemCollector(section.filesystem, host))
    register("diskstats", lambda: diskstats.DiskstatsCollector(section.diskstats, host))
    register("netdev", lambda: netdev.NetdevCollector(section.netdev, host))
    # netclass and netstack take netdev's device filters: one set of interfaces for all three.
    register("netclass", lambda: netclass.NetclassCollector(section.netdev, host))
    register("netstack", lambda: netstack.NetstackCollector(section.netdev, host))
    register("processes", lambda: processes.ProcessesCollector(host))
    register("filefd", lambda: filefd.FilefdCollector(host))
    register("time", lambda: timeinfo.TimeCollector(host))
    register("uname", lambda: uname.UnameCollector(host))
    register("hwmon", lambda: hwmon.HwmonCollector(host))
    return [factory() for factory in factories]


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
