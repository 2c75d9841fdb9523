"""Process and thread counts by state, from /proc/PID/stat (node_exporter's processes collector).
Processes that exit while being read are skipped: that is the normal case on a busy host."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_bytes, read_text


class ProcessesCollector:
    name = "processes"

    def __init__(self, host: HostPaths) -> None:
        self._proc = host.proc

    def collect(self) -> list[MetricFamily]:
        states: dict[str, int] = {}
        threads = 0
        pids = 0
        for entry in os.listdir(self._proc):
            if not entry.isdigit():
                continue
            try:
                stat = read_bytes(os.path.join(self._proc, entry, "stat"))
            except OSError:  # exited, or hidden from us
                continue
            # The command name may hold spaces and parentheses; fields resume after the last ")".
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) < 18:
                continue
            state = fields[0].decode("ascii", "replace")
            states[state] = states.get(state, 0) + 1
            threads += int(fields[17])
            pids += 1
        families = [
            gauge(
                "node_processes_state",
                "Number of processes in each state.",
                [Sample((("state", s),), float(n)) for s, n in sorted(states.items())],
            ),
            gauge(
                "node_processes_threads",
                "Allocated threads in system",
                [Sample((), float(threads))],
            ),
            gauge("node_processes_pids", "Number of PIDs", [Sample((), float(pids))]),
        ]
        for file_name, metric, help_text in (
            ("sys/kernel/pid_max", "node_processes_max_processes", "Number of max PIDs limit"),
            (
                "sys/kernel/threads-max",
                "node_processes_max_threads",
                "Limit of threads in the system",
            ),
        ):
            try:
                value = float(read_text(os.path.join(self._proc, file_name)))
            except (OSError, ValueError):
                continue
            families.append(gauge(metric, help_text, [Sample((), value)]))
        return families
