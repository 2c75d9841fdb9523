"""Named groups of processes, exported under process-exporter's names and labels
(namedprocess_namegroup_*{groupname}), so its Grafana dashboards and alert rules work unchanged,
configured like its process_names: match by comm, exe or command-line regex, the group named by a
template. Reads the process table's latest pass (proctable.py): no pass of its own.

Counters (CPU seconds, bytes read and written, context switches) add each process's growth since
the previous pass, as process-exporter does, so they never go down when a process exits; a
process first seen adds what it used so far."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Optional

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors.proctable import ProcessRecord, ProcessTable
from aiops_agent.config.schema import TEMPLATE_FIELD, ProcessName
from aiops_agent.config.schema import ProcessGroupsCollector as ProcessGroupsSettings

PREFIX = "namedprocess_namegroup_"
# psutil's status -> process-exporter's state label.
_STATES = {
    "running": "Running",
    "sleeping": "Sleeping",
    "disk-sleep": "Waiting",
    "idle": "Sleeping",
    "zombie": "Zombie",
}
STATES = ("Running", "Sleeping", "Waiting", "Zombie", "Other")


class _Matcher:
    def __init__(self, settings: ProcessName) -> None:
        self.template = settings.name
        self.comm = frozenset(settings.comm)
        self.exe_paths = frozenset(e for e in settings.exe if "/" in e)
        self.exe_names = frozenset(e for e in settings.exe if "/" not in e)
        self.cmdline = [re.compile(pattern) for pattern in settings.cmdline]

    def name(self, record: ProcessRecord) -> Optional[str]:
        """The group name of a matching process, else None."""
        if self.comm and record.name not in self.comm:
            return None
        if self.exe_paths or self.exe_names:
            base = os.path.basename(record.exe)
            if record.exe not in self.exe_paths and base not in self.exe_names:
                return None
        matches: dict[str, str] = {}
        if self.cmdline:
            joined = " ".join(record.args)
            for pattern in self.cmdline:
                found = pattern.search(joined)
                if found is None:
                    return None
                matches.update({k: v for k, v in found.groupdict().items() if v is not None})
        values = {
            "Comm": record.name,
            "ExeBase": os.path.basename(record.exe) or record.name,
            "ExeFull": record.exe or record.name,
            "Username": record.user,
        }
        return TEMPLATE_FIELD.sub(
            lambda m: (
                matches.get(m.group(1)[8:], "")
                if m.group(1).startswith("Matches.")
                else values[m.group(1)]
            ),
            self.template,
        )


@dataclass
class _Group:
    procs: int = 0
    threads: int = 0
    rss: int = 0
    vms: int = 0
    fds: int = 0
    worst_fd_ratio: float = 0.0
    oldest: float = 0.0
    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))


class _Totals:
    """A group's counters, kept across passes."""

    __slots__ = ("ctx_involuntary", "ctx_voluntary", "read", "system", "user", "write")

    def __init__(self) -> None:
        self.user = self.system = 0.0
        self.read = self.write = self.ctx_voluntary = self.ctx_involuntary = 0


class ProcessGroupsCollector:
    name = "process_groups"

    def __init__(self, settings: ProcessGroupsSettings, table: ProcessTable) -> None:
        self._table = table
        self._matchers = [_Matcher(entry) for entry in settings.process_names]
        self._max_groups = settings.max_groups
        self._totals: dict[str, _Totals] = {}
        self._seen: dict[tuple[int, float], ProcessRecord] = {}
        self._dropped = 0

    def collect(self) -> list[MetricFamily]:
        groups: dict[str, _Group] = {}
        seen: dict[tuple[int, float], ProcessRecord] = {}
        for record in self._table.records:
            name = self._group_of(record)
            if name is None:
                continue
            group = groups.get(name)
            if group is None:
                if name not in self._totals and len(self._totals) >= self._max_groups:
                    self._dropped += 1
                    continue
                group = groups[name] = _Group()
            identity = (record.pid, record.create_time)
            seen[identity] = record
            self._add(name, group, record, self._seen.get(identity))
        self._seen = seen
        for name in self._totals:
            groups.setdefault(name, _Group())  # a group whose processes are all gone: 0 procs
        return _families(groups, self._totals, self._dropped)

    def _group_of(self, record: ProcessRecord) -> Optional[str]:
        for matcher in self._matchers:
            name = matcher.name(record)
            if name is not None:
                return name
        return None

    def _add(
        self, name: str, group: _Group, record: ProcessRecord, before: Optional[ProcessRecord]
    ) -> None:
        totals = self._totals.setdefault(name, _Totals())
        base = before or _ZERO
        totals.user += max(record.cpu_user - base.cpu_user, 0.0)
        totals.system += max(record.cpu_system - base.cpu_system, 0.0)
        totals.read += _growth(record.read_bytes, base.read_bytes)
        totals.write += _growth(record.write_bytes, base.write_bytes)
        totals.ctx_voluntary += max(record.ctx_voluntary - base.ctx_voluntary, 0)
        totals.ctx_involuntary += max(record.ctx_involuntary - base.ctx_involuntary, 0)
        group.procs += 1
        group.threads += record.threads
        group.rss += record.rss
        group.vms += record.vms
        group.states[_STATES.get(record.status, "Other")] += 1
        if record.create_time and (not group.oldest or record.create_time < group.oldest):
            group.oldest = record.create_time
        if record.open_fds >= 0:
            group.fds += record.open_fds
            limit = self._table.fd_limit(record.pid)
            if limit:
                group.worst_fd_ratio = max(group.worst_fd_ratio, record.open_fds / limit)


_ZERO = ProcessRecord(0, 0, 0.0, "", "", (), "", "", 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0,
                      0.0, 0, 0, 0, True)  # fmt: skip


def _growth(now: int, before: int) -> int:
    if now < 0:
        return 0
    return max(now - max(before, 0), 0)


def _families(
    groups: dict[str, _Group], totals: dict[str, _Totals], dropped: int
) -> list[MetricFamily]:
    names = sorted(groups)

    def per_group(values: Iterable[tuple[str, float]]) -> list[Sample]:
        return [Sample((("groupname", name),), value) for name, value in values]

    def by(label: str, pairs: dict[str, tuple[float, float]] | dict[str, tuple[float, ...]],
           keys: tuple[str, ...]) -> list[Sample]:  # fmt: skip
        return [
            Sample((("groupname", name), (label, key)), float(pairs[name][index]))
            for name in names
            for index, key in enumerate(keys)
        ]

    cpu = {n: (totals[n].user, totals[n].system) for n in names}
    memory = {n: (float(groups[n].rss), float(groups[n].vms)) for n in names}
    ctx = {n: (float(totals[n].ctx_voluntary), float(totals[n].ctx_involuntary)) for n in names}
    states = {n: tuple(float(groups[n].states[s]) for s in STATES) for n in names}
    return [
        gauge(PREFIX + "num_procs", "Number of processes in this group.",
              per_group((n, float(groups[n].procs)) for n in names)),
        counter(PREFIX + "cpu_seconds_total", "CPU seconds used by this group's processes.",
                by("mode", cpu, ("user", "system"))),
        counter(PREFIX + "read_bytes_total", "Bytes read from storage by this group.",
                per_group((n, float(totals[n].read)) for n in names)),
        counter(PREFIX + "write_bytes_total", "Bytes written to storage by this group.",
                per_group((n, float(totals[n].write)) for n in names)),
        counter(PREFIX + "context_switches_total", "Context switches of this group.",
                by("ctxswitchtype", ctx, ("voluntary", "nonvoluntary"))),
        gauge(PREFIX + "memory_bytes", "Memory of this group's processes, by type.",
              by("memtype", memory, ("resident", "virtual"))),
        gauge(PREFIX + "open_filedesc", "Open file descriptors of this group (those readable).",
              per_group((n, float(groups[n].fds)) for n in names)),
        gauge(PREFIX + "worst_fd_ratio",
              "Highest ratio of open file descriptors to the soft limit in this group.",
              per_group((n, groups[n].worst_fd_ratio) for n in names)),
        gauge(PREFIX + "oldest_start_time_seconds",
              "Start time of the group's oldest process, in seconds since the epoch (0: none).",
              per_group((n, groups[n].oldest) for n in names)),
        gauge(PREFIX + "num_threads", "Threads of this group's processes.",
              per_group((n, float(groups[n].threads)) for n in names)),
        gauge(PREFIX + "states", "Processes of this group by state.",
              by("state", states, STATES)),
        counter("namedprocess_groups_dropped_total",
                "Processes not grouped because collectors.process_groups.max_groups was reached, "
                "counted at each collection.", [Sample((), float(dropped))]),
    ]  # fmt: skip
