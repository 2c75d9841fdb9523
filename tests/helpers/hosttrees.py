"""Host trees (a /proc, /sys and /run/udev laid out under one directory) that both the agent
(agent.host_root) and node_exporter (--path.procfs/sysfs/rootfs/udev.data) read, so their pages
can be compared on hardware this machine does not have:

- procfs_tree(): Prometheus procfs' own test fixtures, from Debian's
  golang-github-prometheus-procfs-dev (see debian.py), unpacked with our ttar reader;
- synthetic_tree(root): a small host made here with the cases that break exporters: several
  hwmon directories under one device, PCI and platform chips, a bond with an invalid speed, odd
  interface names, an offline CPU, device-mapper and ATA disks in udev's database.

Both exporters also read a few things no tree can hold (the uname and adjtimex system calls, the
clock, statfs of the tree's directories); comparisons treat those families as live.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import debian, ttar


def procfs_tree() -> Path:
    """procfs' fixtures unpacked once into the cache; returns the directory holding proc/ and
    sys/."""
    archive = debian.procfs_fixtures_ttar()
    directory = debian.cache_dir().parent / "fixtures" / debian.PROCFS_FIXTURES.file_name
    marker = directory / ".unpacked"
    if not marker.exists():
        ttar.extract(archive, directory)
        marker.touch()
    return directory / "fixtures"


# Every block queue attribute node_exporter 1.9.0's procfs reads: it reports rotational="0"
# when any one is missing, so the synthetic disks carry them all.
_QUEUE = {
    "add_random": "0", "dax": "0", "discard_granularity": "0", "discard_max_hw_bytes": "0",
    "discard_max_bytes": "0", "hw_sector_size": "512", "io_poll": "0", "io_timeout": "30000",
    "iostats": "1", "logical_block_size": "512", "max_hw_sectors_kb": "32767",
    "max_integrity_segments": "0", "max_sectors_kb": "1280", "max_segments": "168",
    "max_segment_size": "65536", "minimum_io_size": "512", "nomerges": "0",
    "nr_requests": "64", "optimal_io_size": "0", "physical_block_size": "512",
    "read_ahead_kb": "128", "rq_affinity": "1", "write_same_max_bytes": "0", "nr_zones": "0",
    "chunk_sectors": "0", "fua": "0", "max_discard_segments": "1",
    "write_zeroes_max_bytes": "0", "io_poll_delay": "-1", "wbt_lat_usec": "75000",
    "write_cache": "write back", "zoned": "none", "scheduler": "[mq-deadline] none",
}  # fmt: skip

_NET_PROPERTIES = {
    "addr_assign_type": "0", "carrier_changes": "3", "carrier_up_count": "2",
    "carrier_down_count": "1", "dev_id": "0x0", "dormant": "0", "iflink": "{index}",
    "ifindex": "{index}", "link_mode": "0", "name_assign_type": "4", "netdev_group": "0",
    "tx_queue_len": "1000", "type": "1", "ifalias": "", "broadcast": "ff:ff:ff:ff:ff:ff",
}  # fmt: skip

# (name, sysfs device directory or None for virtual, operstate, flags, speed, duplex, carrier)
_INTERFACES = (
    ("eth0", "devices/pci0000:00/0000:00:19.0/net/eth0", "up", "0x1003", "1000", "full", "1"),
    ("bond0", None, "up", "0x1403", "-1", "unknown", "1"),  # a bond whose speed is unknown
    ("vlan.100", None, "lowerlayerdown", "0x1003", None, None, "0"),
    ("br-1a2b_x", None, "down", "0x1002", None, None, None),
)


def _hwmon_chips() -> list[tuple[str, str, dict[str, str]]]:
    """(hwmon name, device directory it belongs to, attribute files)."""
    coretemp = "devices/platform/coretemp.0"
    gpu = "devices/pci0000:00/0000:00:02.0"
    phy = "devices/pci0000:00/0000:00:14.3/ieee80211/phy0"
    return [
        (
            "hwmon0",
            coretemp,
            {
                "name": "coretemp",
                "temp1_input": "45000",
                "temp1_label": "Package id 0",
                "temp1_max": "84000",
                "temp1_crit": "100000",
                "temp1_crit_alarm": "0",
                "temp2_input": "43500",
                "temp2_label": "Core 0",
            },
        ),
        (
            "hwmon1",
            gpu,
            {
                "name": "amdgpu",
                "temp1_input": "51000",
                "temp1_crit": "94000",
                "fan1_input": "1200",
                "fan1_min": "0",
                "fan1_max": "3300",
                "pwm1": "64",
                "pwm1_enable": "2",
                "in0_input": "850",
                "in0_label": "vddgfx",
                "power1_average": "15000000",
                "power1_cap": "150000000",
                "freq1_input": "300000000",
                "freq1_label": "sclk",
                "curr1_input": "1500",
                "energy1_input": "123456789",
                "humidity1_input": "45000",
            },
        ),
        # Three hwmon directories under one phy: two share a name file, one does not.
        ("hwmon2", phy, {"name": "iwlwifi_1", "temp1_input": "38000"}),
        ("hwmon3", phy, {"name": "iwlwifi_1", "temp1_input": "39000"}),
        ("hwmon4", phy, {"name": "iwlwifi_2", "temp1_input": "40000"}),
        # A virtual chip: no device link, named by its name file.
        ("hwmon5", "devices/virtual/thermal/thermal_zone0", {"name": "acpitz"}),
    ]


def _write(root: Path, relative: str, content: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def _link(root: Path, relative: str, target: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def _relative(from_dir: str, to: str) -> str:
    return os.path.relpath(to, from_dir)


def synthetic_tree(root: Path) -> Path:
    """Write the synthetic host under `root` and return it."""
    files: dict[str, str] = {
        # Four CPUs, cpu2 offline: absent from /proc/stat and softnet_stat.
        "proc/stat": (
            "cpu  3000 20 1500 40000 300 0 120 0 0 0\n"
            "cpu0 1000 10 500 13000 100 0 40 0 0 0\n"
            "cpu1 1000 5 500 13500 100 0 40 0 0 0\n"
            "cpu3 1000 5 500 13500 100 0 40 0 0 0\n"
            "intr 123456 10 20 30\nctxt 987654\nbtime 1700000000\nprocesses 43210\n"
            "procs_running 2\nprocs_blocked 1\nsoftirq 5000 1 2 3 4 5 6 7 8 9 10\n"
        ),
        "proc/loadavg": "0.50 0.40 0.30 2/345 43210\n",
        "proc/meminfo": (
            "MemTotal:        8000000 kB\nMemFree:         1000000 kB\n"
            "MemAvailable:    4000000 kB\nBuffers:          200000 kB\n"
            "Cached:          2500000 kB\nSwapCached:            0 kB\n"
            "Active:          3000000 kB\nInactive:        2000000 kB\n"
            "Active(anon):    1500000 kB\nInactive(anon):   100000 kB\n"
            "SwapTotal:       2000000 kB\nSwapFree:        1900000 kB\n"
            "Dirty:               128 kB\nHugePages_Total:       0\nHugePages_Free:        0\n"
            "Hugepagesize:       2048 kB\n"
        ),
        "proc/vmstat": (
            "nr_free_pages 250000\npgpgin 1000\npgpgout 2000\npswpin 3\npswpout 4\n"
            "pgfault 50000\npgmajfault 60\noom_kill 1\n"
        ),
        "proc/diskstats": (
            "   8       0 sda 1000 10 80000 500 2000 20 160000 900 0 1200 1400 5 0 40 1 30 2\n"
            "   8       1 sda1 900 9 70000 450 1900 19 150000 850 0 1100 1300 0 0 0 0 0 0\n"
            " 253       0 dm-0 800 0 60000 400 1800 0 140000 800 0 1000 1200 0 0 0 0 0 0\n"
            " 259       0 nvme0n1 5000 50 400000 600 7000 70 560000 700 2 1500 1300 9 1 72 3"
            " 11 4\n"
        ),
        "proc/sys/fs/file-nr": "2048\t0\t9223372036854775807\n",
        "proc/sys/kernel/random/entropy_avail": "256\n",
        "proc/sys/kernel/random/poolsize": "256\n",
        "proc/sys/net/netfilter/nf_conntrack_count": "42\n",
        "proc/sys/net/netfilter/nf_conntrack_max": "262144\n",
        "proc/pressure/cpu": (
            "some avg10=1.00 avg60=0.50 avg300=0.10 total=123456789\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        ),
        "proc/pressure/io": (
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=2345678\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=1234567\n"
        ),
        "proc/pressure/memory": (
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=34567\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=23456\n"
        ),
        "proc/pressure/irq": "full avg10=0.00 avg60=0.00 avg300=0.00 total=4567\n",
        "proc/1/net/dev": (
            "Inter-|   Receive                                                |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets"
            " errs drop fifo colls carrier compressed\n"
            "    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
            "  eth0: 500000 4000 1 2 0 0 0 30 400000 3000 0 0 0 0 0 0\n"
            " bond0: 500000 4000 0 0 0 0 0 0 400000 3000 0 0 0 0 0 0\n"
            "vlan.100: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n"
            "br-1a2b_x: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        ),
        "proc/1/net/netstat": (
            "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed ListenOverflows ListenDrops"
            " TCPTimeouts TCPSynRetrans TCPOFOQueue TCPRcvQDrop DelayedACKs\n"
            "TcpExt: 1 2 3 4 5 6 7 8 9 10\n"
            "IpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 123456 654321\n"
        ),
        "proc/1/net/snmp": (
            "Ip: Forwarding DefaultTTL InReceives\nIp: 1 64 1000\n"
            "Icmp: InMsgs InErrors OutMsgs\nIcmp: 5 1 6\n"
            "Tcp: RtoAlgorithm MaxConn ActiveOpens PassiveOpens CurrEstab InSegs OutSegs"
            " RetransSegs InErrs OutRsts\n"
            "Tcp: 1 -1 10 20 3 1000 900 5 0 7\n"
            "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
            "Udp: 100 2 0 90 0 0\n"
            "UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
            "UdpLite: 0 0 0 0 0 0\n"
        ),
        "proc/1/net/snmp6": (
            "Ip6InReceives                   \t271\nIp6InOctets                     \t2000\n"
            "Ip6OutOctets                    \t1500\nIcmp6InMsgs                     \t3\n"
            "Icmp6InErrors                   \t0\nIcmp6OutMsgs                    \t4\n"
            "Udp6InDatagrams                 \t9\nUdp6NoPorts                     \t1\n"
            "Udp6InErrors                    \t0\nUdp6OutDatagrams                \t8\n"
            "UdpLite6InErrors                \t0\n"
        ),
        "proc/1/net/udp": (
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
            "  timeout inode ref pointer drops\n"
            "  100: 00000000:0044 00000000:0000 07 00000000:00000010 00:00000000 00000000     0"
            "        0 12345 2 0000000000000000 0\n"
            "  200: 0100007F:0035 00000000:0000 07 00000020:00000000 00:00000000 00000000   101"
            "        0 12346 2 0000000000000000 3\n"
        ),
        "proc/1/net/udp6": (
            "  sl  local_address                         remote_address                        st"
            " tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
            "  300: 00000000000000000000000000000000:0222 00000000000000000000000000000000:0000"
            " 07 00000000:00000100 00:00000000 00000000     0        0 12347 2 0000000000000000 0\n"
        ),
        "proc/1/net/sockstat": (
            "sockets: used 200\nTCP: inuse 5 orphan 0 tw 3 alloc 8 mem 2\nUDP: inuse 2 mem 1\n"
            "UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n"
        ),
        "proc/1/net/sockstat6": (
            "TCP6: inuse 2\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n"
        ),
        # 13 columns (Linux >= 5.14): the last is the CPU's id, so cpu2's absence shows.
        "proc/1/net/softnet_stat": "".join(
            f"{p:08x} {d:08x} {s:08x} 00000000 00000000 00000000 00000000 00000000 {c:08x}"
            f" {r:08x} {f:08x} {b:08x} {cpu:08x}\n"
            for p, d, s, c, r, f, b, cpu in (
                (1000, 1, 2, 3, 4, 5, 6, 0),
                (2000, 0, 0, 0, 0, 0, 0, 1),
                (3000, 0, 1, 0, 0, 0, 0, 3),
            )
        ),
        "proc/1/net/arp": (
            "IP address       HW type     Flags       HW address            Mask     Device\n"
            "192.0.2.1        0x1         0x2         52:54:00:12:34:56     *        eth0\n"
            "192.0.2.2        0x1         0x2         52:54:00:12:34:57     *        eth0\n"
            "198.51.100.1     0x1         0x2         52:54:00:12:34:58     *        bond0\n"
        ),
        "proc/1/net/stat/nf_conntrack": (
            "entries  searched found new invalid ignore delete delete_list insert insert_failed"
            " drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
            "0000002a  00000000 00000000 00000000 00000005 00000010 00000000 00000000 00000000"
            " 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000001\n"
        ),
        "proc/1/mountinfo": (
            "21 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw\n"
            "22 21 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n"
            "23 21 8:1 / /data\\040disk ro,relatime shared:3 - xfs /dev/sda1 ro,attr2\n"
            "24 21 0:25 / /run/user/1000 rw,nosuid,nodev,relatime shared:4 - tmpfs tmpfs rw\n"
        ),
        "proc/1/mounts": (
            "/dev/mapper/vg0-root / ext4 rw,relatime 0 0\n"
            "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
            "/dev/sda1 /data\\040disk xfs ro,relatime,attr2 0 0\n"
            "tmpfs /run/user/1000 tmpfs rw,nosuid,nodev,relatime 0 0\n"
        ),
        "etc/os-release": (
            'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\n'
            'VERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n'
        ),
        "sys/devices/system/clocksource/clocksource0/available_clocksource": "tsc hpet acpi_pm\n",
        "sys/devices/system/clocksource/clocksource0/current_clocksource": "tsc\n",
        "sys/devices/system/cpu/online": "0-1,3\n",
        "sys/devices/system/cpu/offline": "2\n",
        "sys/devices/system/cpu/isolated": "3\n",
        "run/udev/data/b8:0": (
            "S:disk/by-id/ata-SAMPLE_DISK_S1\nE:ID_ATA=1\nE:ID_ATA_WRITE_CACHE=1\n"
            "E:ID_ATA_WRITE_CACHE_ENABLED=0\nE:ID_ATA_ROTATION_RATE_RPM=7200\n"
            "E:ID_MODEL=SAMPLE_DISK\nE:ID_SERIAL_SHORT=S1\nE:ID_REVISION=1.0\n"
            "E:ID_PATH=pci-0000:00:1f.2-ata-1\nE:ID_WWN=0x5000c500a1b2c3d4\n"
        ),
        "run/udev/data/b253:0": (
            "E:DM_NAME=vg0-root\nE:DM_UUID=LVM-abcdef\nE:DM_VG_NAME=vg0\nE:DM_LV_NAME=root\n"
            "E:ID_FS_TYPE=ext4\nE:ID_FS_USAGE=filesystem\n"
            "E:ID_FS_UUID=0d3b2a4c-1111-2222-3333-444455556666\nE:ID_FS_VERSION=1.0\n"
        ),
        "run/udev/data/b259:0": "E:ID_MODEL=Sample NVMe\nE:ID_SERIAL_SHORT=N1\n",
    }
    for cpu, (package, core, online) in enumerate(((0, 0, "1"), (0, 1, "1"), (1, 0, "0"))):
        files[f"sys/devices/system/cpu/cpu{cpu}/online"] = online + "\n"
        if online == "1":  # the kernel removes topology and throttle files of offline CPUs
            base = f"sys/devices/system/cpu/cpu{cpu}"
            files[f"{base}/topology/physical_package_id"] = f"{package}\n"
            files[f"{base}/topology/core_id"] = f"{core}\n"
            files[f"{base}/thermal_throttle/core_throttle_count"] = f"{cpu + 5}\n"
            files[f"{base}/thermal_throttle/package_throttle_count"] = f"{package + 10}\n"
    files["sys/devices/system/cpu/cpu3/online"] = "1\n"
    files["sys/devices/system/cpu/cpu3/topology/physical_package_id"] = "1\n"
    files["sys/devices/system/cpu/cpu3/topology/core_id"] = "1\n"
    files["sys/devices/system/cpu/cpu3/thermal_throttle/core_throttle_count"] = "0\n"
    for disk, rotational in (("sda", "1"), ("nvme0n1", "0")):
        for name, value in {**_QUEUE, "rotational": rotational}.items():
            files[f"sys/block/{disk}/queue/{name}"] = value + "\n"
    files["sys/block/dm-0/queue/rotational"] = "0\n"  # the other queue files are missing
    for index, (name, device, operstate, flags, speed, duplex, carrier) in enumerate(
        _INTERFACES, 2
    ):
        directory = device or f"devices/virtual/net/{name}"
        attributes = {k: v.format(index=index) for k, v in _NET_PROPERTIES.items()}
        attributes.update(
            operstate=operstate, flags=flags, mtu="1500", address=f"52:54:00:00:00:{index:02x}"
        )
        for attribute, text in (("speed", speed), ("duplex", duplex), ("carrier", carrier)):
            if text is not None:
                attributes[attribute] = text
        attributes["statistics/rx_nohandler"] = str(index)
        for attribute, text in attributes.items():
            files[f"sys/{directory}/{attribute}"] = text + "\n"
    for hwmon, device, attributes in _hwmon_chips():
        for attribute, text in attributes.items():
            files[f"sys/{device}/hwmon/{hwmon}/{attribute}"] = text + "\n"
    for relative, content in files.items():
        _write(root, relative, content)
    _finish_links(root)
    _write(root, "proc/1/stat", "1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 10 20 0 0 20 0 1 0 5 0 0\n")
    for directory in ("data disk", "run/user/1000", "proc/1/fd"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    return root


def _finish_links(root: Path) -> None:
    """The symbolic links sysfs and procfs have: class entries, device links, /proc/self."""
    _link(root, "proc/self", "1")
    _link(root, "proc/net", "self/net")
    for name, device, *_ in _INTERFACES:
        directory = device or f"devices/virtual/net/{name}"
        _link(root, f"sys/class/net/{name}", _relative("sys/class/net", f"sys/{directory}"))
        if device:
            parent = os.path.dirname(os.path.dirname(directory))
            _link(root, f"sys/{directory}/device", _relative(f"sys/{directory}", f"sys/{parent}"))
    for hwmon, device, _ in _hwmon_chips():
        chip_dir = f"sys/{device}/hwmon/{hwmon}"
        _link(root, f"sys/class/hwmon/{hwmon}", _relative("sys/class/hwmon", chip_dir))
        if "virtual" not in device:
            _link(root, f"{chip_dir}/device", _relative(chip_dir, f"sys/{device}"))


def node_exporter_tree_flags(root: Path, version: str) -> list[str]:
    """node_exporter's flags to read the host tree at `root` instead of this machine. The
    netlink modes of netdev and (1.9) arp read the running kernel whatever the paths say, so
    they are switched off."""
    flags = [
        f"--path.procfs={root / 'proc'}",
        f"--path.sysfs={root / 'sys'}",
        f"--path.rootfs={root}",
        f"--path.udev.data={root / 'run/udev/data'}",
        "--no-collector.netdev.netlink",
        "--collector.textfile.directory=",
    ]
    if version != "1.5":
        flags.append("--no-collector.arp.netlink")
    return flags


def agent_page(root: Path) -> str:
    """The agent's host series for the tree at `root` (agent.host_root), collected in this
    process with the default configuration."""
    import logging

    from aiops_agent.base.logs import RateLimitedLog
    from aiops_agent.collectors import CollectorStats, build_collectors, collect_once
    from aiops_agent.collectors.host import HostPaths
    from aiops_agent.config.schema import CollectorsSection
    from aiops_agent.exposition import render

    collectors = build_collectors(CollectorsSection(), HostPaths.under(str(root)))
    stats: dict[str, CollectorStats] = {}
    errors = RateLimitedLog(logging.getLogger("hosttrees"))
    return render(collect_once(collectors, stats, errors, True))
