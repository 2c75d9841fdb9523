"""Open file descriptors across the host (node_exporter's filefd collector)."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text


class FilefdCollector:
    name = "filefd"

    def __init__(self, host: HostPaths) -> None:
        self._path = os.path.join(host.proc, "sys/fs/file-nr")

    def collect(self) -> list[MetricFamily]:
        allocated, _unused, maximum = read_text(self._path).split()[:3]
        return [
            gauge(
                "node_filefd_allocated",
                "File descriptor statistics: allocated.",
                [Sample((), float(allocated))],
            ),
            gauge(
                "node_filefd_maximum",
                "File descriptor statistics: maximum.",
                [Sample((), float(maximum))],
            ),
        ]
