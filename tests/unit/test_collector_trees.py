"""Collectors on a fake host tree (a /proc and /sys under a temporary host_root, written here with
known contents), compared family by family and value by value with what node_exporter's
collectors report for the same files: pressure, netclass, netstack (arp, sockstat, softnet,
conntrack) and time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiops_agent.base.model import MetricFamily
from aiops_agent.collectors import netclass, netstack, pressure, timeinfo
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config.schema import NetdevCollector

# name -> (type, {labels: value})
Families = dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]


def tree(root: Path, files: dict[str, str]) -> HostPaths:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return HostPaths.under(str(root))


def exact(families: list[MetricFamily]) -> Families:
    found: Families = {}
    for family in families:
        assert family.name not in found, f"{family.name} twice"
        found[family.name] = (family.kind, {s.labels: s.value for s in family.samples})
    return found


def test_pressure(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            # cpu's "full" line (kernels >= 5.13) is not read, as node_exporter 1.5 ignores it.
            "proc/pressure/cpu": "some avg10=1.50 avg60=0.80 avg300=0.20 total=2500000\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
            "proc/pressure/io": "some avg10=0.00 avg60=0.00 avg300=0.00 total=1250000\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n",
            # memory absent: a kernel without it publishes no memory families
            # irq has only "full" (Linux 6.1 and later)
            "proc/pressure/irq": "full avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n",
        },
    )
    assert exact(pressure.PressureCollector(host).collect()) == {
        "node_pressure_cpu_waiting_seconds_total": ("counter", {(): 2.5}),
        "node_pressure_io_waiting_seconds_total": ("counter", {(): 1.25}),
        "node_pressure_io_stalled_seconds_total": ("counter", {(): 0.001}),
        "node_pressure_irq_stalled_seconds_total": ("counter", {(): 0.5}),
    }


def test_pressure_without_psi_publishes_nothing(tmp_path: Path) -> None:
    assert pressure.PressureCollector(tree(tmp_path, {})).collect() == []


NETCLASS_FILES = {
    "address": "52:54:00:12:34:56\n",
    "addr_assign_type": "0\n",
    "broadcast": "ff:ff:ff:ff:ff:ff\n",
    "carrier": "1\n",
    "carrier_changes": "3\n",
    "carrier_up_count": "2\n",
    "carrier_down_count": "1\n",
    "dev_id": "0x0\n",
    "dormant": "0\n",
    "duplex": "full\n",
    "flags": "0x1003\n",
    "ifalias": "\n",
    "ifindex": "2\n",
    "iflink": "2\n",
    "link_mode": "0\n",
    "mtu": "1500\n",
    "name_assign_type": "4\n",
    "netdev_group": "0\n",
    "operstate": "up\n",
    "speed": "1000\n",
    "tx_queue_len": "1000\n",
    "type": "1\n",
    "statistics/rx_nohandler": "7\n",
}


def test_netclass(tmp_path: Path) -> None:
    files = {f"sys/class/net/eth0/{name}": text for name, text in NETCLASS_FILES.items()}
    # A second interface without a link: speed and duplex are unreadable (EINVAL), as on a real
    # host; loopback is left out by the netdev filter.
    files.update(
        {
            "sys/class/net/eth1/operstate": "down\n",
            "sys/class/net/eth1/address": "52:54:00:ab:cd:ef\n",
            "sys/class/net/eth1/mtu": "9000\n",
            "sys/class/net/eth1/carrier_changes": "0\n",
            "sys/class/net/lo/operstate": "unknown\n",
        }
    )
    host = tree(tmp_path, files)
    eth0, eth1 = (("device", "eth0"),), (("device", "eth1"),)
    properties = {
        "address_assign_type": 0.0,
        "carrier": 1.0,
        "carrier_changes_total": 3.0,
        "carrier_up_changes_total": 2.0,
        "carrier_down_changes_total": 1.0,
        "device_id": 0.0,
        "dormant": 0.0,
        "flags": 4099.0,
        "iface_id": 2.0,
        "iface_link": 2.0,
        "iface_link_mode": 0.0,
        "mtu_bytes": 1500.0,
        "name_assign_type": 4.0,
        "net_dev_group": 0.0,
        "speed_bytes": 125_000_000.0,  # 1000 Mbit/s
        "transmit_queue_length": 1000.0,
        "protocol_type": 1.0,
    }
    counters = {"carrier_changes_total", "carrier_up_changes_total", "carrier_down_changes_total"}
    expected: Families = {
        "node_network_up": ("gauge", {eth0: 1.0, eth1: 0.0}),
        "node_network_info": (
            "gauge",
            {
                (
                    ("address", "52:54:00:12:34:56"),
                    ("adminstate", "up"),  # flags 0x1003 has IFF_UP
                    ("broadcast", "ff:ff:ff:ff:ff:ff"),
                    ("device", "eth0"),
                    ("duplex", "full"),
                    ("ifalias", ""),
                    ("operstate", "up"),
                ): 1.0,
                (
                    ("address", "52:54:00:ab:cd:ef"),
                    ("adminstate", "unknown"),  # no flags
                    ("broadcast", ""),
                    ("device", "eth1"),
                    ("duplex", ""),
                    ("ifalias", ""),
                    ("operstate", "down"),
                ): 1.0,
            },
        ),
        **{
            f"node_network_{name}": (
                "counter" if name in counters else "gauge",
                {eth0: value, **({eth1: 9000.0} if name == "mtu_bytes" else {})},
            )
            for name, value in properties.items()
        },
        "node_network_receive_nohandler_total": ("counter", {eth0: 7.0}),
    }
    expected["node_network_carrier_changes_total"][1][eth1] = 0.0
    assert exact(netclass.NetclassCollector(NetdevCollector(), host).collect()) == expected


def test_netstack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netstack, "_PAGE_SIZE", 4096)
    host = tree(
        tmp_path,
        {
            # Under host_root, per-namespace files are read from PID 1's view: the host's.
            "proc/1/net/arp": (
                "IP address       HW type     Flags       HW address            Mask     Device\n"
                "192.168.1.1      0x1         0x2         52:54:00:00:00:01     *        eth0\n"
                "192.168.1.7      0x1         0x2         52:54:00:00:00:07     *        eth0\n"
                "10.0.0.1         0x1         0x2         52:54:00:00:00:02     *        eth1\n"
                "127.0.0.2        0x1         0x2         00:00:00:00:00:00     *        lo\n"
            ),
            "proc/1/net/sockstat": (
                "sockets: used 230\nTCP: inuse 5 orphan 0 tw 4 alloc 9 mem 3\nUDP: inuse 2 mem 1\n"
            ),
            "proc/1/net/sockstat6": "TCP6: inuse 1\nUDP6: inuse 2\n",
            # Hexadecimal columns; the 13th is the CPU's id (Linux 5.14 and later).
            "proc/1/net/softnet_stat": (
                "0000000a 00000001 00000002 00000000 00000000 00000000 00000000 00000000 "
                "00000003 00000004 00000005 00000006 00000000\n"
                "000000ff 00000000 00000010 00000000 00000000 00000000 00000000 00000000 "
                "00000000 00000000 00000000 00000000 00000003\n"
            ),
            "proc/sys/net/netfilter/nf_conntrack_count": "123\n",
            "proc/sys/net/netfilter/nf_conntrack_max": "262144\n",
            "proc/1/net/stat/nf_conntrack": (
                "entries  clashres found new invalid ignore delete delete_list insert "
                "insert_failed drop early_drop icmp_error  expect_new expect_create "
                "expect_delete search_restart\n"
                "0000007b  00000000 00000001 00000000 00000002 00000003 00000000 00000000 "
                "00000004 00000000 00000001 00000000 00000000  00000000 00000000 00000000 "
                "00000005\n"
                "0000007b  00000000 00000001 00000000 00000000 00000001 00000000 00000000 "
                "00000000 00000000 00000000 00000002 00000000  00000000 00000000 00000000 "
                "00000000\n"
            ),
        },
    )
    cpu0, cpu3 = (("cpu", "0"),), (("cpu", "3"),)
    assert exact(netstack.NetstackCollector(NetdevCollector(), host).collect()) == {
        # lo is left out by the netdev collector's default device filter, as by node_exporter.
        "node_arp_entries": ("gauge", {(("device", "eth0"),): 2.0, (("device", "eth1"),): 1.0}),
        "node_sockstat_sockets_used": ("gauge", {(): 230.0}),
        "node_sockstat_TCP_inuse": ("gauge", {(): 5.0}),
        "node_sockstat_TCP_orphan": ("gauge", {(): 0.0}),
        "node_sockstat_TCP_tw": ("gauge", {(): 4.0}),
        "node_sockstat_TCP_alloc": ("gauge", {(): 9.0}),
        "node_sockstat_TCP_mem": ("gauge", {(): 3.0}),
        "node_sockstat_TCP_mem_bytes": ("gauge", {(): 3.0 * 4096}),
        "node_sockstat_UDP_inuse": ("gauge", {(): 2.0}),
        "node_sockstat_UDP_mem": ("gauge", {(): 1.0}),
        "node_sockstat_UDP_mem_bytes": ("gauge", {(): 4096.0}),
        "node_sockstat_TCP6_inuse": ("gauge", {(): 1.0}),
        "node_sockstat_UDP6_inuse": ("gauge", {(): 2.0}),
        "node_softnet_processed_total": ("counter", {cpu0: 10.0, cpu3: 255.0}),
        "node_softnet_dropped_total": ("counter", {cpu0: 1.0, cpu3: 0.0}),
        "node_softnet_times_squeezed_total": ("counter", {cpu0: 2.0, cpu3: 16.0}),
        "node_softnet_cpu_collision_total": ("counter", {cpu0: 3.0, cpu3: 0.0}),
        "node_softnet_received_rps_total": ("counter", {cpu0: 4.0, cpu3: 0.0}),
        "node_softnet_flow_limit_count_total": ("counter", {cpu0: 5.0, cpu3: 0.0}),
        "node_softnet_backlog_len": ("gauge", {cpu0: 6.0, cpu3: 0.0}),
        "node_nf_conntrack_entries": ("gauge", {(): 123.0}),
        "node_nf_conntrack_entries_limit": ("gauge", {(): 262144.0}),
        # Summed over the CPUs' lines.
        "node_nf_conntrack_stat_found": ("gauge", {(): 2.0}),
        "node_nf_conntrack_stat_invalid": ("gauge", {(): 2.0}),
        "node_nf_conntrack_stat_ignore": ("gauge", {(): 4.0}),
        "node_nf_conntrack_stat_insert": ("gauge", {(): 4.0}),
        "node_nf_conntrack_stat_insert_failed": ("gauge", {(): 0.0}),
        "node_nf_conntrack_stat_drop": ("gauge", {(): 1.0}),
        "node_nf_conntrack_stat_early_drop": ("gauge", {(): 2.0}),
        "node_nf_conntrack_stat_search_restart": ("gauge", {(): 5.0}),
    }


def test_netstack_without_its_files_publishes_nothing(tmp_path: Path) -> None:
    assert netstack.NetstackCollector(NetdevCollector(), tree(tmp_path, {})).collect() == []


def test_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(timeinfo.time, "time", lambda: 1_700_000_100.5)
    clocksource = "sys/devices/system/clocksource"
    host = tree(
        tmp_path,
        {
            "proc/stat": "cpu  1 2 3 4\nintr 0\nbtime 1700000000\nprocesses 9\n",
            f"{clocksource}/clocksource0/available_clocksource": "tsc hpet acpi_pm \n",
            f"{clocksource}/clocksource0/current_clocksource": "tsc\n",
        },
    )
    try:
        families = exact(timeinfo.TimeCollector(host).collect())
    finally:
        monkeypatch.undo()
        time.tzset()
    source = (("clocksource", "tsc"), ("device", "0"))
    assert families == {
        "node_time_seconds": ("gauge", {(): 1_700_000_100.5}),
        "node_time_zone_offset_seconds": ("gauge", {(("time_zone", "UTC"),): 0.0}),
        "node_boot_time_seconds": ("gauge", {(): 1_700_000_000.0}),
        "aiops_agent_host_uptime_seconds": ("gauge", {(): 100.5}),
        "node_time_clocksource_available_info": (
            "gauge",
            {
                source: 1.0,
                (("clocksource", "hpet"), ("device", "0")): 1.0,
                (("clocksource", "acpi_pm"), ("device", "0")): 1.0,
            },
        ),
        "node_time_clocksource_current_info": ("gauge", {source: 1.0}),
    }
