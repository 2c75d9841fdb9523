"""Collectors: each turns one part of the host into metric families. A collector is any object
with a `name` and a `collect() -> list[MetricFamily]`; the registry below builds the enabled ones
from config and knows nothing else about them, and collect_once runs them behind an error
boundary."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional, Protocol

from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.base.naming import COMPAT_PREFIX, own_host_name
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config.schema import CollectorsSection, ProcessesSection

if TYPE_CHECKING:
    from aiops_agent.collectors.proctable import ProcessTable


class Collector(Protocol):
    name: str

    def collect(self) -> list[MetricFamily]: ...


# Each collector's name is its switch, collectors.<name>.enabled; the list is also the order of
# collection and of the families on /metrics. textfile comes last (see build_collectors).
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
        "netstat": "aiops_agent.collectors.netstat:NetstatCollector",
        "timex": "aiops_agent.collectors.timex:TimexCollector",  # ctypes only when enabled
        "entropy": "aiops_agent.collectors.entropy:EntropyCollector",
        "udp_queues": "aiops_agent.collectors.udp_queues:UdpQueuesCollector",
        "process_groups": "aiops_agent.collectors.procgroups:ProcessGroupsCollector",
        "textfile": "aiops_agent.collectors.textfile:TextfileCollector",
    }
)
# What a collector is built with beyond the host paths: the collectors.<section> it takes.
# netclass and netstack take netdev's device filters: one set of interfaces for all three.
_SETTINGS = {
    "filesystem": "filesystem",
    "diskstats": "diskstats",
    "netdev": "netdev",
    "netclass": "netdev",
    "netstack": "netdev",
    "netstat": "netstat",
}
_NO_HOST = {"timex"}  # asks the kernel (adjtimex), reads no file of the host


def wants_process_groups(section: CollectorsSection) -> bool:
    return section.process_groups.enabled and bool(section.process_groups.process_names)


def new_process_table(
    processes: ProcessesSection, section: CollectorsSection, host: HostPaths
) -> ProcessTable:
    """The process layer (psutil, imported here and only here): for the top-processes view and
    the process groups, one pass per collection for both."""
    from aiops_agent.collectors.proctable import ProcessTable, Redactor  # noqa: PLC0415

    want_exe = any(entry.exe for entry in section.process_groups.process_names)
    redactor = Redactor(processes.redact, processes.cmdline_max_length)
    return ProcessTable(host, redactor, want_exe=want_exe)


def build_collectors(
    section: CollectorsSection,
    host: HostPaths,
    table: Optional[ProcessTable] = None,
    refresh_every: float = 0.0,
) -> list[Collector]:
    """The enabled collectors, in registry order. A switched-off collector is never imported, so
    it costs no memory. With a process table (the agent's, or one made here for the process
    groups), its pass runs first, as the collector "process_table", so the collectors after it
    read the same pass and its cost and failures are reported like a collector's. The pass runs
    at most every `refresh_every` seconds (0: every collection); in between, the latest pass
    stands."""
    if table is None and wants_process_groups(section):
        table = new_process_table(ProcessesSection(), section, host)
    collectors: list[Collector] = [] if table is None else [_ProcessScan(table, refresh_every)]
    for name in COLLECTORS.names():
        if name == "textfile" or not getattr(section, name).enabled:
            continue
        if name == "process_groups":
            if table is not None and wants_process_groups(section):
                collectors.append(COLLECTORS.load(name)(section.process_groups, table))
            continue
        settings = [getattr(section, _SETTINGS[name])] if name in _SETTINGS else []
        paths = [] if name in _NO_HOST else [host]
        collectors.append(COLLECTORS.load(name)(*settings, *paths))
    if section.textfile.enabled:
        # Last, and told what the others publish: a file must not shadow the agent's series.
        recorders = [_Recorder(collector) for collector in collectors]
        textfile = COLLECTORS.load("textfile")(section.textfile, _Published(recorders))
        collectors = [*recorders, textfile]
    return collectors


class _ProcessScan:
    """The process table's pass over the host's processes, publishing what it saw."""

    name = "process_table"

    def __init__(self, table: ProcessTable, refresh_every: float = 0.0) -> None:
        self.table = table
        self.refresh_every = refresh_every

    def collect(self) -> list[MetricFamily]:
        records = self.table.refresh(self.refresh_every)
        skipped = self.table.skipped
        return [
            gauge(
                "aiops_agent_process_table_processes",
                "Processes read in the latest pass of the process table.",
                [Sample((), float(len(records)))],
            ),
            counter(
                "aiops_agent_process_table_skipped_total",
                "Processes skipped by the process table: exited while read, or unreadable.",
                [Sample((("reason", reason),), float(n)) for reason, n in skipped.items()],
            ),
            # Host-wide worst cases, unlabelled (no series per PID or user): what node_exporter's
            # host-wide fd and process counts miss, one process or one user at its own limit.
            gauge(
                "aiops_agent_process_fd_limit_used_ratio",
                "Highest ratio, over the host's processes, of a process's open file descriptors "
                "to its own soft RLIMIT_NOFILE (1: it gets EMFILE). Processes with fewer than "
                "32 open fds count as 0.",
                [Sample((), self.table.fd_ratio())],
            ),
            gauge(
                "aiops_agent_user_process_limit_used_ratio",
                "Highest ratio, over the users other than root, of a user's tasks (processes and "
                "threads) to the RLIMIT_NPROC of its newest process (1: its forks fail). "
                "Users with fewer than 16 tasks count as 0.",
                [Sample((), self.table.task_ratio())],
            ),
        ]


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
