"""Protocol counters from /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6 (node_exporter's
netstat collector): TCP, UDP, ICMP and IP statistics as node_netstat_<Protocol>_<Field>, untyped,
for the fields matching collectors.netstat.fields (node_exporter's default set). Under host_root
the files are PID 1's, i.e. the host's network namespace."""

from __future__ import annotations

import contextlib
import re

from aiops_agent.base.model import MetricFamily, Sample
from aiops_agent.collectors.host import HostPaths, read_text
from aiops_agent.config.schema import NetstatCollector as NetstatSettings


def parse_netstat(text: str, path: str) -> dict[str, dict[str, str]]:
    """{protocol: {field: value}} from pairs of "Proto: names" / "Proto: values" lines. A later
    pair for the same protocol replaces the earlier one, as in node_exporter."""
    stats: dict[str, dict[str, str]] = {}
    lines = text.splitlines()
    for names_line, values_line in zip(lines[::2], lines[1::2]):
        names, values = names_line.split(" "), values_line.split(" ")
        protocol = names[0][:-1]
        if len(names) != len(values):
            raise ValueError(f"{path}: field count mismatch for {protocol}")
        stats[protocol] = dict(zip(names[1:], values[1:]))
    return stats


def parse_snmp6(text: str) -> dict[str, dict[str, str]]:
    """/proc/net/snmp6's "Ip6InReceives 271" lines: the protocol ends at the first "6"."""
    stats: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or "6" not in fields[0]:
            continue
        cut = fields[0].index("6") + 1
        stats.setdefault(fields[0][:cut], {})[fields[0][cut:]] = fields[1]
    return stats


class NetstatCollector:
    name = "netstat"

    def __init__(self, settings: NetstatSettings, host: HostPaths) -> None:
        self._host = host
        self._fields = re.compile(settings.fields)

    def collect(self) -> list[MetricFamily]:
        stats: dict[str, dict[str, str]] = {}
        for file_name in ("net/netstat", "net/snmp"):
            path = self._host.proc_of_host(file_name)
            stats.update(parse_netstat(read_text(path), path))
        with contextlib.suppress(FileNotFoundError):  # no snmp6 with IPv6 disabled
            stats.update(parse_snmp6(read_text(self._host.proc_of_host("net/snmp6"))))
        families = []
        for protocol, fields in sorted(stats.items()):
            for field, text in sorted(fields.items()):
                key = f"{protocol}_{field}"
                if not self._fields.search(key):
                    continue
                families.append(
                    MetricFamily(
                        f"node_netstat_{key}",
                        "untyped",
                        f"Statistic {protocol}{field}.",
                        [Sample((), float(text))],
                    )
                )
        return families
