"""Network I/O, errors and drops per interface from /proc/net/dev (node_exporter's netdev
collector). Under host_root it reads PID 1's view, i.e. the host's network namespace, so a pod
sees the node's interfaces without hostNetwork."""

from __future__ import annotations

import os
import re

from aiops_agent.base.model import MetricFamily, Sample, counter
from aiops_agent.collectors.host import HostPaths, read_text
from aiops_agent.config.schema import NetdevCollector as NetdevSettings

_RECEIVE = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
_TRANSMIT = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")
_STATS = [f"receive_{n}" for n in _RECEIVE] + [f"transmit_{n}" for n in _TRANSMIT]


class InterfaceFilter:
    """Which interfaces the netdev settings let through; shared by netdev and netclass so both
    report the same set."""

    def __init__(self, settings: NetdevSettings, host: HostPaths) -> None:
        self._sys_class_net = os.path.join(host.sys, "class/net")
        self._exclude = re.compile(settings.device_exclude) if settings.device_exclude else None
        self._exclude_virtual = settings.exclude_virtual

    def __call__(self, device: str) -> bool:
        if self._exclude and self._exclude.search(device):
            return False
        if self._exclude_virtual:  # a virtual interface has no backing device in sysfs
            return os.path.exists(os.path.join(self._sys_class_net, device, "device"))
        return True


class NetdevCollector:
    name = "netdev"

    def __init__(self, settings: NetdevSettings, host: HostPaths) -> None:
        self._path = host.proc_of_host("net/dev")
        self._wanted = InterfaceFilter(settings, host)

    def collect(self) -> list[MetricFamily]:
        families = [
            counter(f"node_network_{stat}_total", f"Network device statistic {stat}.")
            for stat in _STATS
        ]
        for line in read_text(self._path).splitlines()[2:]:
            device, sep, rest = line.partition(":")
            device = device.strip()
            if not sep or not self._wanted(device):
                continue
            labels = (("device", device),)
            for family, value in zip(families, rest.split()):
                family.samples.append(Sample(labels, float(value)))
        return families
