"""Bytes queued in UDP sockets, summed over /proc/net/udp and udp6 (node_exporter's udp_queues
collector): a receive queue that stays up means an application is not reading fast enough. The
files list one line per socket, so the cost grows with the number of UDP sockets (about 1 µs a
socket)."""

from __future__ import annotations

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text


def queue_totals(text: str, path: str) -> tuple[int, int]:
    """(tx, rx) bytes summed over the sockets of one /proc/net/udp-style file. Raises ValueError
    naming the file and line of a malformed line, as node_exporter rejects it."""
    tx = rx = 0
    for number, line in enumerate(text.splitlines()[1:], 2):
        fields = line.split()
        queues = fields[4].split(":") if len(fields) >= 13 else []
        if len(queues) != 2:
            raise ValueError(f"{path}:{number}: not a socket line: {line.strip()!r}")
        tx += int(queues[0], 16)
        rx += int(queues[1], 16)
    return tx, rx


class UdpQueuesCollector:
    name = "udp_queues"

    def __init__(self, host: HostPaths) -> None:
        self._host = host

    def collect(self) -> list[MetricFamily]:
        family = gauge(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        )
        for file_name, ip in (("net/udp", "v4"), ("net/udp6", "v6")):
            path = self._host.proc_of_host(file_name)
            try:
                text = read_text(path)
            except FileNotFoundError:  # no IPv6 (or no IPv4) in this kernel
                continue
            tx, rx = queue_totals(text, path)
            family.samples.append(Sample((("ip", ip), ("queue", "tx")), float(tx)))
            family.samples.append(Sample((("ip", ip), ("queue", "rx")), float(rx)))
        return [family]
