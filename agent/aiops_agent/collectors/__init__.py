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
        entropy,
        filefd,
        filesystem,
        hwmon,
        loadavg,
        meminfo,
        netclass,
        netdev,
        netstack,
        netstat,
        pressure,
        processes,
        textfile,
        timeinfo,
        udp_queues,
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
    register("netstat", lambda: netstat.NetstatCollector(section.netstat, host))
    register("timex", _timex)
    register("entropy", lambda: entropy.EntropyCollector(host))
    register("udp_queues", lambda: udp_queues.UdpQueuesCollector(host))
    collectors = [factory() for factory in factories]
    if section.textfile.enabled:
        # Last, and told what the others publish: a file must not shadow the agent's series.
        recorders = [_Recorder(collector) for collector in collectors]
        published = _Published(recorders)
        collectors = [*recorders, textfile.TextfileCollector(section.textfile, published)]
    return collectors


def _timex() -> Collector:
    from aiops_agent.collectors import timex  # noqa: PLC0415  (ctypes only when enabled)

    return timex.TimexCollector()


class _Recorder:
    """A collector that remembers the family names it published."""

    def __init__(self, inner: Collector) -> None:
        self.name = inner.name
        self.inner = inner
        self.names: frozenset[str] = frozenset()

    def collect(self) -> list[MetricFamily]:
        families = self.inner.collect()
        self.names = self.names.union(family.name for family in families)
        return families


class _Published:
    """Every family name the recorded collectors have published so far."""

    def __init__(self, recorders: list[_Recorder]) -> None:
        self._recorders = recorders

    def __call__(self) -> frozenset[str]:
        return frozenset().union(*(recorder.names for recorder in self._recorders))
