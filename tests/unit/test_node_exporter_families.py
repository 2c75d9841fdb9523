"""The families added for node_exporter 1.9 parity, on the synthetic host tree (exact values
from its files) and on this machine (shape), and the duplicate-series guard every scrape in the
tests goes through."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors import hwmon, netstat, timex
from aiops_agent.collectors.host import HostPaths
from aiops_agent.collectors.textfile import TextfileCollector
from aiops_agent.config.schema import TextfileCollector as TextfileSettings
from aiops_agent.exposition import render
from tests import promtext
from tests.helpers import hosttrees


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, promtext.Family]:
    root = hosttrees.synthetic_tree(tmp_path_factory.mktemp("tree") / "host")
    return promtext.parse(hosttrees.agent_page(root))


def values(page: dict[str, promtext.Family], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return page[name].by_labels()


def one(page: dict[str, promtext.Family], family: str, **labels: str) -> float:
    return values(page, family)[tuple(sorted(labels.items()))]


def test_duplicate_series_and_families_are_refused() -> None:
    with pytest.raises(promtext.DuplicateSeries):
        promtext.parse('# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n')
    with pytest.raises(promtext.DuplicateSeries):
        promtext.parse("# TYPE a gauge\na 1\n# TYPE a gauge\n")
    assert promtext.parse('a{x="1"} 1\na{x="2"} 2\n')["a"].by_labels()


def test_hwmon_families_names_and_units(page: dict[str, promtext.Family]) -> None:
    coretemp, gpu = "platform_coretemp_0", "pci0000:00_0000:00:02_0"
    assert one(page, "node_hwmon_temp_celsius", chip=coretemp, sensor="temp1") == 45.0
    assert one(page, "node_hwmon_temp_max_celsius", chip=coretemp, sensor="temp1") == 84.0
    assert one(page, "node_hwmon_temp_crit_celsius", chip=coretemp, sensor="temp1") == 100.0
    assert one(page, "node_hwmon_temp_crit_alarm_celsius", chip=coretemp, sensor="temp1") == 0
    assert page["node_hwmon_temp_crit_celsius"].help == "Hardware monitor for temperature (crit)"
    assert one(page, "node_hwmon_fan_rpm", chip=gpu, sensor="fan1") == 1200
    assert one(page, "node_hwmon_fan_max_rpm", chip=gpu, sensor="fan1") == 3300
    assert one(page, "node_hwmon_in_volts", chip=gpu, sensor="in0") == pytest.approx(0.85)
    assert one(page, "node_hwmon_curr_amps", chip=gpu, sensor="curr1") == pytest.approx(1.5)
    assert one(page, "node_hwmon_power_average_watt", chip=gpu, sensor="power1") == 15.0
    assert one(page, "node_hwmon_pwm", chip=gpu, sensor="pwm1") == 64
    assert one(page, "node_hwmon_pwm_enable", chip=gpu, sensor="pwm1") == 2
    assert one(page, "node_hwmon_energy_joule_total", chip=gpu, sensor="energy1") == (
        pytest.approx(123.456789)
    )
    assert page["node_hwmon_energy_joule_total"].type == "counter"
    assert one(page, "node_hwmon_humidity", chip=gpu, sensor="humidity1") == 0.045
    assert one(page, "node_hwmon_freq_freq_mhz", chip=gpu, sensor="sclk") == 300
    assert one(page, "node_hwmon_chip_names", chip=gpu, chip_name="amdgpu") == 1
    assert one(page, "node_hwmon_chip_names", chip="acpitz", chip_name="acpitz") == 1
    label = one(
        page, "node_hwmon_sensor_label", chip=coretemp, sensor="temp1", label="Package id 0"
    )
    assert label == 1


def test_hwmon_chips_sharing_a_device_get_distinct_labels(tmp_path: Path) -> None:
    """Three hwmon directories under one ieee80211 phy: the old collector published three
    node_hwmon_temp_celsius{chip="ieee80211_phy0",sensor="temp1"} samples in one page."""
    root = hosttrees.synthetic_tree(tmp_path / "host")
    families = hwmon.HwmonCollector(HostPaths.under(str(root))).collect()
    page = promtext.parse(render(families))  # raises DuplicateSeries on identical series
    temps = {dict(k)["chip"]: v for k, v in page["node_hwmon_temp_celsius"].by_labels().items()}
    assert temps["ieee80211_phy0_hwmon2"] == 38.0
    assert temps["ieee80211_phy0_hwmon3"] == 39.0
    assert temps["ieee80211_phy0_iwlwifi_2"] == 40.0


def test_hwmon_helpers_follow_node_exporter() -> None:
    assert hwmon.clean_name("0000:00:03.0") == "0000:00:03_0"  # colons stay, as in its regex
    assert hwmon.clean_name("Package id 0\n") == "package_id_0"
    assert hwmon.split_file_name("temp1_crit_alarm") == ("temp", 1, "crit_alarm")
    assert hwmon.split_file_name("pwm2") == ("pwm", 2, "")
    assert hwmon.split_file_name("update_interval") == ("update_interval", 0, "")


def test_netstat_snmp_and_snmp6(page: dict[str, promtext.Family]) -> None:
    assert one(page, "node_netstat_Tcp_CurrEstab") == 3
    assert one(page, "node_netstat_Tcp_RetransSegs") == 5
    assert one(page, "node_netstat_TcpExt_TCPRcvQDrop") == 9
    assert one(page, "node_netstat_Ip6_InOctets") == 2000
    assert one(page, "node_netstat_Udp6_NoPorts") == 1
    assert one(page, "node_netstat_IpExt_InOctets") == 123456
    assert page["node_netstat_Tcp_CurrEstab"].type == "untyped"
    assert page["node_netstat_Tcp_CurrEstab"].help == "Statistic TcpCurrEstab."
    assert "node_netstat_Tcp_MaxConn" not in page  # outside the default field filter
    assert "node_netstat_TcpExt_DelayedACKs" not in page


def test_netstat_rejects_a_mismatched_pair() -> None:
    with pytest.raises(ValueError, match="snmp: field count mismatch for Tcp"):
        netstat.parse_netstat("Tcp: A B\nTcp: 1\n", "snmp")


def test_entropy_udp_queues_softnet_pressure(page: dict[str, promtext.Family]) -> None:
    assert one(page, "node_entropy_available_bits") == 256
    assert one(page, "node_entropy_pool_size_bits") == 256
    assert one(page, "node_udp_queues", ip="v4", queue="tx") == 0x20
    assert one(page, "node_udp_queues", ip="v4", queue="rx") == 0x10
    assert one(page, "node_udp_queues", ip="v6", queue="rx") == 0x100
    assert one(page, "node_softnet_backlog_len", cpu="0") == 6
    assert one(page, "node_softnet_cpu_collision_total", cpu="0") == 3
    assert one(page, "node_softnet_processed_total", cpu="3") == 3000
    assert one(page, "node_pressure_irq_stalled_seconds_total") == pytest.approx(0.004567)


def test_cpu_topology_families(page: dict[str, promtext.Family]) -> None:
    assert values(page, "node_cpu_isolated") == {(("cpu", "3"),): 1.0}
    assert one(page, "node_cpu_package_throttles_total", package="0") == 10
    # Package 1's only online CPU has no package_throttle_count: no series, as in node_exporter.
    assert (("package", "1"),) not in values(page, "node_cpu_package_throttles_total")
    assert one(page, "node_cpu_core_throttles_total", core="1", package="0") == 6
    assert one(page, "node_cpu_core_throttles_total", core="1", package="1") == 0


def test_disk_udev_families(page: dict[str, promtext.Family]) -> None:
    info = {dict(k)["device"]: dict(k) for k in values(page, "node_disk_info")}
    assert info["sda"]["rotational"] == "1" and info["nvme0n1"]["rotational"] == "0"
    assert info["sda"]["serial"] == "S1" and info["sda"]["model"] == "SAMPLE_DISK"
    assert one(page, "node_disk_ata_rotation_rate_rpm", device="sda") == 7200
    assert one(page, "node_disk_ata_write_cache_enabled", device="sda") == 0
    assert (
        one(
            page,
            "node_disk_device_mapper_info",
            device="dm-0",
            lv_layer="",
            lv_name="root",
            name="vg0-root",
            uuid="LVM-abcdef",
            vg_name="vg0",
        )
        == 1
    )
    fs = {dict(k)["device"]: dict(k)["type"] for k in values(page, "node_disk_filesystem_info")}
    assert fs == {"dm-0": "ext4"}


def test_network_adminstate(page: dict[str, promtext.Family]) -> None:
    states = {dict(k)["device"]: dict(k)["adminstate"] for k in values(page, "node_network_info")}
    assert states == {"eth0": "up", "bond0": "up", "vlan.100": "up", "br-1a2b_x": "down"}


def test_filesystem_mount_info_and_device_error(page: dict[str, promtext.Family]) -> None:
    mounts = {dict(k)["mountpoint"]: dict(k) for k in values(page, "node_filesystem_mount_info")}
    assert mounts["/"]["major"] == "253" and mounts["/data disk"]["minor"] == "1"
    labels = {dict(k)["mountpoint"]: dict(k) for k in values(page, "node_filesystem_size_bytes")}
    assert labels["/data disk"]["device_error"] == ""
    assert (
        one(
            page,
            "node_filesystem_readonly",
            device="/dev/sda1",
            device_error="",
            fstype="xfs",
            mountpoint="/data disk",
        )
        == 1
    )


def test_timex_reads_the_kernel_clock_read_only() -> None:
    families = {f.name: f for f in timex.TimexCollector().collect()}
    assert len(families) == 17  # a sandbox refusing adjtimex would publish none
    tick = families["node_timex_tick_seconds"].samples[0].value
    assert 0 < tick < 1
    assert families["node_timex_sync_status"].samples[0].value in (0.0, 1.0)
    assert families["node_timex_pps_error_total"].kind == "counter"


def test_timex_units_follow_the_status_bits() -> None:
    reading = timex.Timex(offset=1500, freq=65536 * 10, maxerror=16000, tick=10000, jitter=30)
    values = {f.name: f.samples[0].value for f in timex.timex_families(0, reading)}
    assert values["node_timex_offset_seconds"] == pytest.approx(0.0015)  # microseconds
    assert values["node_timex_frequency_adjustment_ratio"] == pytest.approx(1.00001)
    assert values["node_timex_maxerror_seconds"] == pytest.approx(0.016)
    assert values["node_timex_sync_status"] == 1
    reading.status = 0x2000  # STA_NANO: offset and jitter in nanoseconds
    values = {f.name: f.samples[0].value for f in timex.timex_families(5, reading)}
    assert values["node_timex_offset_seconds"] == pytest.approx(1.5e-6)
    assert values["node_timex_sync_status"] == 0  # TIME_ERROR
    assert ctypes.sizeof(timex.Timex) == 208 or ctypes.sizeof(ctypes.c_long) != 8


def test_render_keeps_textfile_and_host_families_apart(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text("custom 1\n")
    families: list[MetricFamily] = [gauge("node_load1", "1m load average.", [Sample((), 1.0)])]
    families += TextfileCollector(TextfileSettings(directory=str(tmp_path))).collect()
    page = promtext.parse(render(families))
    assert set(page) >= {"node_load1", "custom", "node_textfile_scrape_error"}
