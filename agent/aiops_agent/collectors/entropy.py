"""The kernel's entropy pool (node_exporter's entropy collector). Since Linux 5.18 both values are
a constant 256 bits; older kernels and dashboards still read them."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text


class EntropyCollector:
    name = "entropy"

    def __init__(self, host: HostPaths) -> None:
        self._dir = os.path.join(host.proc, "sys/kernel/random")

    def collect(self) -> list[MetricFamily]:
        available = float(read_text(os.path.join(self._dir, "entropy_avail")))
        pool_size = float(read_text(os.path.join(self._dir, "poolsize")))
        return [
            gauge(
                "node_entropy_available_bits", "Bits of available entropy.", [Sample((), available)]
            ),
            gauge("node_entropy_pool_size_bits", "Bits of entropy pool.", [Sample((), pool_size)]),
        ]
