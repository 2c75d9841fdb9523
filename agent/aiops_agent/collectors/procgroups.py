"""Named groups of processes (by command name or command line): how many run and how much
memory they hold, so a rule can fire when a service's processes are gone or one group hogs
memory. Runs only when groups are configured; one pass over /proc per collection, reading each
process's stat (and its cmdline only when some group matches on it)."""

from __future__ import annotations

import os
import re

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_bytes
from aiops_agent.config.schema import ProcessGroupsCollector as ProcessGroupsSettings

# /proc/PID/stat fields after the command name's closing parenthesis: state is field 3, rss 24.
_RSS_FIELD = 24 - 3


class ProcessGroupsCollector:
    name = "process_groups"

    def __init__(self, settings: ProcessGroupsSettings, host: HostPaths) -> None:
        groups = settings.groups
        self._proc = host.proc
        self._groups = [
            (
                name,
                re.compile(group.comm) if group.comm else None,
                re.compile(group.cmdline) if group.cmdline else None,
            )
            for name, group in sorted(groups.items())
        ]
        self._wants_cmdline = any(cmdline for _, _, cmdline in self._groups)
        self._page_size = os.sysconf("SC_PAGE_SIZE")

    def collect(self) -> list[MetricFamily]:
        processes = dict.fromkeys((name for name, _, _ in self._groups), 0)
        resident = dict.fromkeys(processes, 0)
        for entry in os.listdir(self._proc):
            if not entry.isdigit():
                continue
            found = self._read(entry)
            if found is None:
                continue
            comm, cmdline, rss_pages = found
            for name, comm_re, cmdline_re in self._groups:
                if (comm_re is None or comm_re.fullmatch(comm)) and (
                    cmdline_re is None or cmdline_re.fullmatch(cmdline)
                ):
                    processes[name] += 1
                    resident[name] += rss_pages * self._page_size
        return [
            gauge(
                "aiops_agent_process_group_processes",
                "Processes in the named group (collectors.process_groups).",
                [Sample((("group", name),), float(n)) for name, n in processes.items()],
            ),
            gauge(
                "aiops_agent_process_group_resident_memory_bytes",
                "Resident memory of the named group's processes, summed.",
                [Sample((("group", name),), float(n)) for name, n in resident.items()],
            ),
        ]

    def _read(self, pid: str) -> tuple[str, str, int] | None:
        """(comm, cmdline, rss pages) of one process; None when it exited meanwhile."""
        try:
            stat = read_bytes(os.path.join(self._proc, pid, "stat"))
            cmdline = b""
            if self._wants_cmdline:
                cmdline = read_bytes(os.path.join(self._proc, pid, "cmdline"))
        except OSError:  # exited, or hidden from us
            return None
        opening, closing = stat.find(b"("), stat.rfind(b")")
        fields = stat[closing + 2 :].split()
        if opening < 0 or len(fields) <= _RSS_FIELD:
            return None
        comm = stat[opening + 1 : closing].decode("utf-8", "replace")
        arguments = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        return comm, arguments, int(fields[_RSS_FIELD])
