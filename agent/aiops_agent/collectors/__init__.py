"""Collectors: each turns one part of the host into metric families. A collector is any object
with a `name` and a `collect() -> list[MetricFamily]`; the registry below builds the enabled ones
from config and knows nothing else about them."""

from __future__ import annotations

from typing import Callable, Protocol

from aiops_agent.config.schema import CollectorsSection
from aiops_agent.host import HostPaths
from aiops_agent.model import MetricFamily


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
        procgroups,
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
    if section.process_groups.groups:
        groups = section.process_groups.groups
        register("process_groups", lambda: procgroups.ProcessGroupsCollector(groups, host))
    return [factory() for factory in factories]
