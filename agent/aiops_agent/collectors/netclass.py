"""Interface properties from /sys/class/net (node_exporter's netclass collector: link state, MTU,
speed, carrier changes, addresses) and the rx_nohandler counter node_exporter's netdev collector
reads over netlink. Switched by collectors.netclass; interfaces follow the netdev collector's
filter. About twenty small sysfs reads per interface."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors.host import HostPaths, read_text
from aiops_agent.collectors.netdev import InterfaceFilter
from aiops_agent.config.schema import NetdevCollector as NetdevSettings

# (sysfs file, metric suffix, kind) in node_exporter 1.5's order.
_PROPERTIES = (
    ("addr_assign_type", "address_assign_type", "gauge"),
    ("carrier", "carrier", "gauge"),
    ("carrier_changes", "carrier_changes_total", "counter"),
    ("carrier_up_count", "carrier_up_changes_total", "counter"),
    ("carrier_down_count", "carrier_down_changes_total", "counter"),
    ("dev_id", "device_id", "gauge"),
    ("dormant", "dormant", "gauge"),
    ("flags", "flags", "gauge"),
    ("ifindex", "iface_id", "gauge"),
    ("iflink", "iface_link", "gauge"),
    ("link_mode", "iface_link_mode", "gauge"),
    ("mtu", "mtu_bytes", "gauge"),
    ("name_assign_type", "name_assign_type", "gauge"),
    ("netdev_group", "net_dev_group", "gauge"),
    ("speed", "speed_bytes", "gauge"),
    ("tx_queue_len", "transmit_queue_length", "gauge"),
    ("type", "protocol_type", "gauge"),
)
_INFO_FILES = ("address", "broadcast", "duplex", "operstate", "ifalias")


def _read(path: str) -> str | None:
    """A sysfs attribute, or None when the driver does not provide it (EINVAL, EOPNOTSUPP...)."""
    try:
        return read_text(path).strip()
    except OSError:
        return None


def _integer(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)  # flags and dev_id are hex ("0x1003")
    except ValueError:
        try:
            return int(text, 10)  # "010" is not a base-0 literal
        except ValueError:
            return None


def _admin_state(flags: int | None) -> str:
    """node_exporter 1.9's adminstate label: the IFF_UP bit of the interface's flags."""
    if flags is None:
        return "unknown"
    return "up" if flags & 0x1 else "down"


class NetclassCollector:
    name = "netclass"

    def __init__(self, settings: NetdevSettings, host: HostPaths) -> None:
        self._root = os.path.join(host.sys, "class/net")
        self._wanted = InterfaceFilter(settings, host)

    def collect(self) -> list[MetricFamily]:
        up = gauge("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.")
        info = gauge(
            "node_network_info", "Non-numeric data from /sys/class/net/<iface>, value is always 1."
        )
        properties = [
            (counter if kind == "counter" else gauge)(
                f"node_network_{suffix}", f"Network device property: {suffix}"
            )
            for _, suffix, kind in _PROPERTIES
        ]
        nohandler = counter(
            "node_network_receive_nohandler_total", "Network device statistic receive_nohandler."
        )
        try:
            devices = sorted(os.listdir(self._root))
        except OSError:
            devices = []
        for device in devices:
            if not self._wanted(device):
                continue
            directory = os.path.join(self._root, device)
            labels = (("device", device),)
            texts = {name: _read(os.path.join(directory, name)) for name in _INFO_FILES}
            if texts["operstate"] is None:  # not an interface directory, or it just went away
                continue
            up.samples.append(Sample(labels, 1.0 if texts["operstate"] == "up" else 0.0))
            flags = _integer(_read(os.path.join(directory, "flags")))
            info.samples.append(
                Sample(
                    (
                        ("address", texts["address"] or ""),
                        ("adminstate", _admin_state(flags)),
                        ("broadcast", texts["broadcast"] or ""),
                        ("device", device),
                        ("duplex", texts["duplex"] or ""),
                        ("ifalias", texts["ifalias"] or ""),
                        ("operstate", texts["operstate"] or ""),
                    ),
                    1.0,
                )
            )
            for family, (file_name, suffix, _) in zip(properties, _PROPERTIES):
                value = _integer(_read(os.path.join(directory, file_name)))
                if value is None:
                    continue
                if (
                    suffix == "speed_bytes"
                ):  # Mbit/s; -1 when unknown, reported as node_exporter does
                    value = int(value * 1000 * 1000 / 8)
                family.samples.append(Sample(labels, float(value)))
            dropped = _integer(_read(os.path.join(directory, "statistics/rx_nohandler")))
            if dropped is not None:
                nohandler.samples.append(Sample(labels, float(dropped)))
        return [up, info, *properties, nohandler]
