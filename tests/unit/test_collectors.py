"""Collectors against a fake host tree under host_root (exact values), and against this
machine's real /proc (shape and sanity)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily
from aiops_agent.base.naming import own_host_name
from aiops_agent.collectors import CollectorStats, build_collectors, collect_once
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config.schema import (
    CollectorsSection,
    FilesystemCollector,
    ProcessGroupsCollector,
    ProcessName,
)

TICKS = os.sysconf("SC_CLK_TCK")


def families_by_name(families: list[MetricFamily]) -> dict[str, MetricFamily]:
    return {family.name: family for family in families}


def value(families: dict[str, MetricFamily], name: str, **labels: str) -> float:
    for sample in families[name].samples:
        if dict(sample.labels) == labels:
            return sample.value
    raise AssertionError(f"{name}{labels} not in {families[name].samples}")


@pytest.fixture
def host_tree(tmp_path: Path) -> Path:
    """A minimal host: two CPUs, one disk, two interfaces, two mounts (one excluded)."""
    root = tmp_path / "host"
    files = {
        "proc/stat": (
            f"cpu  {2 * TICKS} 0 {TICKS} {8 * TICKS} 0 0 0 0 0 0\n"
            f"cpu0 {TICKS} 0 {TICKS} {4 * TICKS} {TICKS} 0 0 0 {TICKS} 0\n"
            f"cpu1 {TICKS} 0 0 {4 * TICKS} 0 0 0 0 0 0\n"
            "intr 1000 1 2 3\nctxt 5000\nbtime 1700000000\nprocesses 4242\n"
            "procs_running 3\nprocs_blocked 1\n"
        ),
        "proc/loadavg": "1.50 0.75 0.25 2/300 12345\n",
        "proc/meminfo": (
            "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n"
            "Active(anon):     10 kB\nHugePages_Total:       0\n"
        ),
        "proc/vmstat": "nr_free_pages 5\npswpin 7\npswpout 9\npgfault 11\n",
        "proc/diskstats": (
            "   8       0 sda 10 1 200 30 20 2 400 50 0 60 80 0 0 0 0 5 6\n"
            "   8       1 sda1 1 1 1 1 1 1 1 1 0 1 1\n"
            "   7       0 loop0 1 1 1 1 1 1 1 1 0 1 1\n"
        ),
        "proc/1/net/dev": (
            "Inter-|   Receive                                                |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets"
            " errs drop fifo colls carrier compressed\n"
            "    lo:  100 1 0 0 0 0 0 0  100 1 0 0 0 0 0 0\n"
            "  eth0: 5000 50 2 3 0 0 0 4  6000 60 5 6 0 0 0 0\n"
        ),
        "proc/1/mounts": (
            "/dev/sda1 / ext4 rw,relatime 0 0\n"
            "proc /proc proc rw 0 0\n"
            "/dev/sdb1 /data\\040disk xfs ro,relatime 0 0\n"
        ),
        "proc/sys/fs/file-nr": "512\t0\t65536\n",
        "proc/sys/kernel/random/entropy_avail": "256\n",
        "proc/sys/kernel/random/poolsize": "256\n",
        "proc/1/net/netstat": "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 3 4\n",
        "proc/1/net/snmp": "Tcp: RtoMin CurrEstab\nTcp: 200 5\nUdp: InDatagrams\nUdp: 7\n",
        "proc/sys/kernel/domainname": "(none)\n",
        "proc/sys/kernel/pid_max": "4194304\n",
        "proc/sys/kernel/threads-max": "100000\n",
        "proc/4242/stat": "4242 (my (odd) cmd) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 1 1 1\n",
        "proc/4243/stat": "4243 (sleepy) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 1 1\n",
        "sys/devices/system/cpu/online": "0-1\n",
        "sys/class/hwmon/hwmon0/name": "coretemp\n",
        "sys/class/hwmon/hwmon0/temp1_input": "45500\n",
        "sys/class/hwmon/hwmon0/temp2_input": "not-a-number\n",
        "etc/os-release": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "data disk").mkdir()
    return root


def collect(root: Path, section: CollectorsSection | None = None) -> dict[str, MetricFamily]:
    collectors = build_collectors(section or CollectorsSection(), HostPaths.under(str(root)))
    stats: dict[str, CollectorStats] = {}
    families = collect_once(
        collectors, stats, RateLimitedLog(__import__("logging").getLogger()), True
    )
    assert {name: s.success for name, s in stats.items() if not s.success} == {}
    return families_by_name(families)


def test_cpu_and_stat_from_host_root(host_tree: Path) -> None:
    f = collect(host_tree)
    assert value(f, "node_cpu_seconds_total", cpu="0", mode="user") == 1.0
    assert value(f, "node_cpu_seconds_total", cpu="0", mode="iowait") == 1.0
    assert value(f, "node_cpu_seconds_total", cpu="1", mode="idle") == 4.0
    assert value(f, "node_cpu_guest_seconds_total", cpu="0", mode="user") == 1.0
    assert f["node_cpu_seconds_total"].kind == "counter"
    assert value(f, "node_context_switches_total") == 5000
    assert value(f, "node_intr_total") == 1000
    assert value(f, "node_forks_total") == 4242
    assert value(f, "node_procs_running") == 3 and value(f, "node_procs_blocked") == 1
    assert value(f, "node_boot_time_seconds") == 1700000000


def test_load_memory_filefd(host_tree: Path) -> None:
    f = collect(host_tree)
    assert value(f, "node_load1") == 1.5 and value(f, "node_load15") == 0.25
    assert value(f, "aiops_agent_load1_per_cpu") == 0.75
    assert value(f, "node_memory_MemTotal_bytes") == 1000 * 1024
    assert value(f, "node_memory_Active_anon_bytes") == 10 * 1024
    assert value(f, "node_memory_HugePages_Total") == 0
    assert value(f, "aiops_agent_memory_utilization_ratio") == pytest.approx(0.75)
    assert value(f, "node_vmstat_pswpin") == 7 and f["node_vmstat_pswpin"].kind == "untyped"
    assert "node_vmstat_nr_free_pages" not in f
    assert value(f, "node_filefd_allocated") == 512 and value(f, "node_filefd_maximum") == 65536


def test_disks_and_network(host_tree: Path) -> None:
    f = collect(host_tree)
    assert [dict(s.labels)["device"] for s in f["node_disk_read_bytes_total"].samples] == ["sda"]
    assert value(f, "node_disk_read_bytes_total", device="sda") == 200 * 512
    assert value(f, "node_disk_written_bytes_total", device="sda") == 400 * 512
    assert value(f, "node_disk_io_time_seconds_total", device="sda") == pytest.approx(0.06)
    assert value(f, "node_disk_flush_requests_total", device="sda") == 5
    devices = [dict(s.labels)["device"] for s in f["node_network_receive_bytes_total"].samples]
    assert devices == ["eth0"]  # lo excluded by default, read from the host's (PID 1) namespace
    assert value(f, "node_network_receive_errs_total", device="eth0") == 2
    assert value(f, "node_network_receive_drop_total", device="eth0") == 3
    assert value(f, "node_network_receive_multicast_total", device="eth0") == 4
    assert value(f, "node_network_transmit_bytes_total", device="eth0") == 6000
    assert value(f, "node_network_transmit_drop_total", device="eth0") == 6


def test_filesystems_read_through_host_root(host_tree: Path) -> None:
    f = collect(host_tree)
    labels = {
        dict(s.labels)["mountpoint"]: dict(s.labels)
        for s in f["node_filesystem_size_bytes"].samples
    }
    assert set(labels) == {"/", "/data disk"}  # /proc excluded; octal escape decoded
    assert labels["/data disk"] == {
        "device": "/dev/sdb1",
        "device_error": "",
        "fstype": "xfs",
        "mountpoint": "/data disk",
    }
    real = os.statvfs(host_tree)
    root = {"device": "/dev/sda1", "device_error": "", "fstype": "ext4", "mountpoint": "/"}
    data = {"device": "/dev/sdb1", "device_error": "", "fstype": "xfs", "mountpoint": "/data disk"}
    assert value(f, "node_filesystem_size_bytes", **root) == (real.f_blocks * real.f_frsize)
    assert value(f, "node_filesystem_readonly", **data) == 1
    assert value(f, "node_filesystem_device_error", **root) == 0


def test_filesystem_include_and_exclude_patterns(host_tree: Path) -> None:
    section = CollectorsSection(filesystem=FilesystemCollector(fs_types_include="^xfs$"))
    f = collect(host_tree, section)
    assert [dict(s.labels)["mountpoint"] for s in f["node_filesystem_size_bytes"].samples] == [
        "/data disk"
    ]


def test_missing_mount_point_is_a_device_error_not_a_failure(host_tree: Path) -> None:
    (host_tree / "data disk").rmdir()
    f = collect(host_tree)
    labels = {
        "device": "/dev/sdb1",
        "device_error": "no such file or directory",  # as node_exporter 1.9 words ENOENT
        "fstype": "xfs",
        "mountpoint": "/data disk",
    }
    assert value(f, "node_filesystem_device_error", **labels) == 1


def test_processes_hwmon_uname_os(host_tree: Path) -> None:
    f = collect(host_tree)
    assert value(f, "node_processes_state", state="R") == 1
    assert value(f, "node_processes_state", state="S") == 1
    assert value(f, "node_processes_threads") == 4
    assert value(f, "node_processes_pids") == 2
    assert value(f, "node_hwmon_temp_celsius", chip="coretemp", sensor="temp1") == 45.5
    assert len(f["node_hwmon_temp_celsius"].samples) == 1  # the unreadable sensor is skipped
    (uname,) = f["node_uname_info"].samples
    assert dict(uname.labels)["sysname"] == os.uname().sysname
    (os_info,) = f["node_os_info"].samples
    assert dict(os_info.labels)["pretty_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert dict(os_info.labels)["version_id"] == "12"


def test_cpu_utilisation_is_computed_between_collections(host_tree: Path) -> None:
    collectors = build_collectors(CollectorsSection(), HostPaths.under(str(host_tree)))
    cpu = next(c for c in collectors if c.name == "cpu")
    first = families_by_name(cpu.collect())
    assert first["aiops_agent_cpu_utilization_ratio"].samples == []  # no delta yet
    stat = host_tree / "proc/stat"
    text = stat.read_text().replace(
        f"cpu1 {TICKS} 0 0 {4 * TICKS}", f"cpu1 {4 * TICKS} 0 0 {5 * TICKS}"
    )
    stat.write_text(text)
    second = families_by_name(cpu.collect())
    # cpu1 gained 3 s busy and 1 s idle: 3 of 4 seconds busy.
    assert value(second, "aiops_agent_cpu_utilization_ratio") == pytest.approx(0.75)


def test_a_failing_collector_is_isolated(host_tree: Path) -> None:
    (host_tree / "proc/loadavg").unlink()
    collectors = build_collectors(CollectorsSection(), HostPaths.under(str(host_tree)))
    stats: dict[str, CollectorStats] = {}
    families = families_by_name(
        collect_once(collectors, stats, RateLimitedLog(__import__("logging").getLogger()), True)
    )
    assert stats["loadavg"].success == 0 and stats["loadavg"].errors == 1
    assert "node_load1" not in families
    assert "node_cpu_seconds_total" in families and stats["cpu"].success == 1


def test_collectors_can_be_switched_off(host_tree: Path) -> None:
    from aiops_agent.config.schema import Toggle

    section = CollectorsSection(cpu=Toggle(enabled=False), hwmon=Toggle(enabled=False))
    names = [c.name for c in build_collectors(section, HostPaths.under(str(host_tree)))]
    assert "cpu" not in names and "hwmon" not in names and "loadavg" in names


def _with_every_input(root: Path) -> None:
    """What the fixture lacks for pressure, netclass, netstack and udp_queues, so every collector
    has families of its own to lose."""
    files = {
        "proc/pressure/cpu": "some avg10=0.00 avg60=0.00 avg300=0.00 total=2000000\n",
        "proc/pressure/io": "some avg10=0 total=3\nfull avg10=0 total=1\n",
        "sys/class/net/eth0/operstate": "up\n",
        "sys/class/net/eth0/mtu": "1500\n",
        "proc/1/net/sockstat": "sockets: used 7\nTCP: inuse 2 orphan 0 tw 1 alloc 3 mem 4\n",
        "proc/1/net/udp": (
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
            "  timeout inode ref pointer drops\n"
            "    1: 00000000:0044 00000000:0000 07 00000000:00000010 00:00000000 00000000     0"
            "        0 12345 2 0000000000000000 0\n"
        ),
    }
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content)


def _families_with_samples(root: Path, section: CollectorsSection) -> set[str]:
    return {name for name, family in collect(root, section).items() if family.samples}


def test_every_collector_has_its_own_switch_under_its_own_name(host_tree: Path) -> None:
    _with_every_input(host_tree)
    # process_groups runs only once a group is named: name one, so every collector runs.
    groups = ProcessGroupsCollector(process_names=[ProcessName(cmdline=["."])])
    defaults = CollectorsSection(process_groups=groups)
    switches = sorted(field.name for field in dataclasses.fields(CollectorsSection))
    built = build_collectors(defaults, HostPaths.under(str(host_tree)))
    # The process table's pass comes first and publishes nothing itself: not a switch.
    assert built[0].name == "process_table"
    collectors = built[1:]
    assert sorted(c.name for c in collectors) == switches
    everything = _families_with_samples(host_tree, defaults)
    for collector in collectors:
        own = {f.name for f in collector.collect() if f.samples}
        assert own, f"{collector.name} has nothing to lose on the fake host"
        toggle = getattr(defaults, collector.name)
        off = dataclasses.replace(toggle, enabled=False)
        left = _families_with_samples(
            host_tree, dataclasses.replace(defaults, **{collector.name: off})
        )
        if collector.name == "process_groups":  # the table's pass was there only for them
            own |= {f.name for f in built[0].collect()}
        assert everything - left == own, collector.name


def test_own_names_when_compatibility_is_off(host_tree: Path) -> None:
    collectors = build_collectors(CollectorsSection(), HostPaths.under(str(host_tree)))
    families = collect_once(
        collectors, {}, RateLimitedLog(__import__("logging").getLogger()), False
    )
    names = {f.name for f in families}
    assert not any(name.startswith("node_") for name in names)
    assert "aiops_host_memory_mem_total_bytes" in names
    assert "aiops_host_cpu_seconds_total" in names
    assert own_host_name("node_memory_HugePages_Total", "gauge") == "aiops_host_memory_huge_pages"
    assert (
        own_host_name("node_memory_DirectMap2M_bytes", "gauge")
        == "aiops_host_memory_direct_map_2m_bytes"
    )
    assert (
        own_host_name("node_network_receive_errs_total") == "aiops_host_network_receive_errs_total"
    )


def test_real_host_collection_is_complete() -> None:
    collectors = build_collectors(CollectorsSection(), HostPaths.under("/"))
    stats: dict[str, CollectorStats] = {}
    f = families_by_name(
        collect_once(collectors, stats, RateLimitedLog(__import__("logging").getLogger()), True)
    )
    assert all(s.success for s in stats.values()), {n: s.success for n, s in stats.items()}
    cpus = {dict(s.labels)["cpu"] for s in f["node_cpu_seconds_total"].samples}
    assert len(cpus) == os.cpu_count()
    assert any(dict(s.labels)["mountpoint"] == "/" for s in f["node_filesystem_size_bytes"].samples)
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    assert value(f, "node_memory_MemTotal_bytes") == total_kib * 1024


def test_many_hung_mounts_do_not_starve_healthy_ones(
    host_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five mounts whose statvfs never returns (more than the starting workers): each is reported
    as a device error and stalled, and the healthy root is still read, every cycle."""
    import threading

    from aiops_agent.collectors import filesystem

    hung = [f"/hung{i}" for i in range(5)]
    mounts = host_tree / "proc/1/mounts"
    mounts.write_text(
        mounts.read_text() + "".join(f"nfs:/{i} {p} nfs4 rw 0 0\n" for i, p in enumerate(hung))
    )
    release = threading.Event()
    real_statvfs = os.statvfs

    def statvfs(path: str) -> os.statvfs_result:
        if os.path.basename(path).startswith("hung"):
            release.wait(30)
        return real_statvfs(path if not os.path.basename(path).startswith("hung") else host_tree)

    monkeypatch.setattr(filesystem.os, "statvfs", statvfs)
    section = CollectorsSection(filesystem=FilesystemCollector(stat_timeout=0.2))
    collector = next(
        c
        for c in build_collectors(section, HostPaths.under(str(host_tree)))
        if c.name == "filesystem"
    )
    try:
        for _ in range(2):
            f = families_by_name(collector.collect())
            root = {"device": "/dev/sda1", "device_error": "", "fstype": "ext4", "mountpoint": "/"}
            assert value(f, "node_filesystem_device_error", **root) == 0
            for index, path in enumerate(hung):
                labels = {
                    "device": f"nfs:/{index}",
                    "device_error": "mountpoint timeout",
                    "fstype": "nfs4",
                    "mountpoint": path,
                }
                assert value(f, "node_filesystem_device_error", **labels) == 1
            assert value(f, "aiops_agent_filesystem_stalled_mounts") == 5
    finally:
        release.set()


def test_rebuilding_the_collectors_starts_no_more_threads(host_tree: Path) -> None:
    """A reload rebuilds the collectors; the filesystem collector's statvfs threads are the
    process' own, not one more pool per reload."""
    import threading

    def statvfs_threads() -> int:
        return sum(t.name.startswith("statvfs-") for t in threading.enumerate())

    build_collectors(CollectorsSection(), HostPaths.under(str(host_tree)))
    before = statvfs_threads()
    for _ in range(3):
        build_collectors(CollectorsSection(), HostPaths.under(str(host_tree)))
    assert statvfs_threads() == before > 0
