"""The host's network stack beyond per-interface counters, from a handful of /proc files
(node_exporter's arp, sockstat, softnet and conntrack collectors): ARP entries per interface,
sockets in use per protocol, per-CPU packet processing, and the connection-tracking table, whose
exhaustion drops new connections. Switched by collectors.netstack; ARP entries follow the
netdev device filter."""

from __future__ import annotations

import os
import re
import resource

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors.host import HostPaths, read_text
from aiops_agent.config.schema import NetdevCollector as NetdevSettings

_PAGE_SIZE = resource.getpagesize()
_CONNTRACK_STATS = {
    "found": "Number of searched entries which were successful.",
    "invalid": "Number of packets seen which can not be tracked.",
    "ignore": "Number of packets seen which are already connected to a conntrack entry.",
    "insert": "Number of entries inserted into the list.",
    "insert_failed": "Number of entries for which list insertion was attempted but failed.",
    "drop": "Number of packets dropped due to conntrack failure.",
    "early_drop": "Number of dropped conntrack entries to make room for new ones, if maximum "
    "table size was reached.",
    "search_restart": "Number of conntrack table lookups which had to be restarted due to "
    "hashtable resizes.",
}


# (column of /proc/net/softnet_stat, name, type, help) as node_exporter 1.9 has them.
_SOFTNET = (
    (0, "processed_total", "counter", "Number of processed packets"),
    (1, "dropped_total", "counter", "Number of dropped packets"),
    (2, "times_squeezed_total", "counter", "Number of times processing packets ran out of quota"),
    (
        8,
        "cpu_collision_total",
        "counter",
        "Number of collision occur while obtaining device lock while transmitting",
    ),
    (9, "received_rps_total", "counter", "Number of times cpu woken up received_rps"),
    (10, "flow_limit_count_total", "counter", "Number of times flow limit has been reached"),
    (11, "backlog_len", "gauge", "Softnet backlog status"),
)


def _optional(path: str) -> str | None:
    try:
        return read_text(path)
    except OSError:
        return None


def parse_sockstat(text: str) -> list[tuple[str, str, float]]:
    """(protocol, field, value) from /proc/net/sockstat or sockstat6 lines such as
    "TCP: inuse 4 orphan 0 tw 77 alloc 4 mem 322"."""
    out = []
    for line in text.splitlines():
        protocol, _, rest = line.partition(":")
        fields = rest.split()
        for name, value in zip(fields[::2], fields[1::2]):
            out.append((protocol.strip(), name, float(value)))
    return out


class NetstackCollector:
    name = "netstack"

    def __init__(self, settings: NetdevSettings, host: HostPaths) -> None:
        self._host = host
        self._exclude = re.compile(settings.device_exclude) if settings.device_exclude else None

    def collect(self) -> list[MetricFamily]:
        return [
            *self._arp(),
            *self._sockstat(),
            *self._softnet(),
            *self._conntrack(),
        ]

    def _arp(self) -> list[MetricFamily]:
        text = _optional(self._host.proc_of_host("net/arp"))
        if text is None:
            return []
        entries: dict[str, int] = {}
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 6 and not (self._exclude and self._exclude.search(fields[5])):
                entries[fields[5]] = entries.get(fields[5], 0) + 1
        return [
            gauge(
                "node_arp_entries",
                "ARP entries by device",
                [Sample((("device", d),), float(n)) for d, n in sorted(entries.items())],
            )
        ]

    def _sockstat(self) -> list[MetricFamily]:
        families = []
        for file_name in ("net/sockstat", "net/sockstat6"):
            text = _optional(self._host.proc_of_host(file_name))
            if text is None:
                continue
            for protocol, field, value in parse_sockstat(text):
                if protocol == "sockets" and field == "used":
                    families.append(
                        gauge(
                            "node_sockstat_sockets_used",
                            "Number of IPv4 sockets in use.",
                            [Sample((), value)],
                        )
                    )
                    continue
                fields = [(field, value)]
                if field == "mem":  # in pages
                    fields.append(("mem_bytes", value * _PAGE_SIZE))
                for name, number in fields:
                    families.append(
                        gauge(
                            f"node_sockstat_{protocol}_{name}",
                            f"Number of {protocol} sockets in state {name}.",
                            [Sample((), number)],
                        )
                    )
        return families

    def _softnet(self) -> list[MetricFamily]:
        text = _optional(self._host.proc_of_host("net/softnet_stat"))
        if text is None:
            return []
        families = [
            (counter if kind == "counter" else gauge)(f"node_softnet_{name}", help_text)
            for _, name, kind, help_text in _SOFTNET
        ]
        for line_number, line in enumerate(text.splitlines()):
            columns = [int(column, 16) for column in line.split()]
            if len(columns) < 9:
                raise ValueError(f"softnet_stat: {len(columns)} columns, expected at least 9")
            # Since Linux 5.14 column 13 is the CPU's id; offline CPUs have no line, so the
            # line number is the id only on older kernels (node_exporter 1.9 reads it so).
            cpu = columns[12] if len(columns) >= 13 else line_number
            labels = (("cpu", str(cpu)),)
            for family, (column, _, _, _) in zip(families, _SOFTNET):
                # Columns an older kernel does not write read as 0, as in node_exporter.
                value = columns[column] if column < len(columns) else 0
                family.samples.append(Sample(labels, float(value)))
        return families

    def _conntrack(self) -> list[MetricFamily]:
        # /proc/sys/net is the reading process's network namespace: under host_root, the agent's.
        netfilter = os.path.join(self._host.proc, "sys/net/netfilter")
        count = _optional(os.path.join(netfilter, "nf_conntrack_count"))
        limit = _optional(os.path.join(netfilter, "nf_conntrack_max"))
        if count is None or limit is None:  # nf_conntrack not loaded
            return []
        families = [
            gauge(
                "node_nf_conntrack_entries",
                "Number of currently allocated flow entries for connection tracking.",
                [Sample((), float(count))],
            ),
            gauge(
                "node_nf_conntrack_entries_limit",
                "Maximum size of connection tracking table.",
                [Sample((), float(limit))],
            ),
        ]
        text = _optional(self._host.proc_of_host("net/stat/nf_conntrack"))
        lines = text.splitlines() if text else []
        if len(lines) > 1:
            header = lines[0].split()
            totals = dict.fromkeys(header, 0.0)
            for line in lines[1:]:  # one line per CPU, hexadecimal
                for name, value in zip(header, line.split()):
                    totals[name] += int(value, 16)
            for name, help_text in _CONNTRACK_STATS.items():
                if name in totals:
                    families.append(
                        gauge(
                            f"node_nf_conntrack_stat_{name}", help_text, [Sample((), totals[name])]
                        )
                    )
        return families
