"""Disk I/O per block device from /proc/diskstats (node_exporter's diskstats collector: same
names, units and default device exclusion; sectors are always 512 bytes in this file)."""

from __future__ import annotations

import os
import re

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors.host import HostPaths, read_text
from aiops_agent.config.schema import DiskstatsCollector as DiskstatsSettings

_SECTOR_BYTES = 512.0
_UDEV_DATA = "/run/udev/data"  # node_exporter's --collector.diskstats udev path, under host_root
_MS = 0.001
# (column index after major/minor/name, metric, kind, scale, help)
_COLUMNS = (
    (
        0,
        "node_disk_reads_completed_total",
        "counter",
        1.0,
        "The total number of reads completed successfully.",
    ),
    (1, "node_disk_reads_merged_total", "counter", 1.0, "The total number of reads merged."),
    (
        2,
        "node_disk_read_bytes_total",
        "counter",
        _SECTOR_BYTES,
        "The total number of bytes read successfully.",
    ),
    (
        3,
        "node_disk_read_time_seconds_total",
        "counter",
        _MS,
        "The total number of seconds spent by all reads.",
    ),
    (
        4,
        "node_disk_writes_completed_total",
        "counter",
        1.0,
        "The total number of writes completed successfully.",
    ),
    (5, "node_disk_writes_merged_total", "counter", 1.0, "The number of writes merged."),
    (
        6,
        "node_disk_written_bytes_total",
        "counter",
        _SECTOR_BYTES,
        "The total number of bytes written successfully.",
    ),
    (
        7,
        "node_disk_write_time_seconds_total",
        "counter",
        _MS,
        "This is the total number of seconds spent by all writes.",
    ),
    (8, "node_disk_io_now", "gauge", 1.0, "The number of I/Os currently in progress."),
    (9, "node_disk_io_time_seconds_total", "counter", _MS, "Total seconds spent doing I/Os."),
    (
        10,
        "node_disk_io_time_weighted_seconds_total",
        "counter",
        _MS,
        "The weighted # of seconds spent doing I/Os.",
    ),
    (
        11,
        "node_disk_discards_completed_total",
        "counter",
        1.0,
        "The total number of discards completed successfully.",
    ),
    (12, "node_disk_discards_merged_total", "counter", 1.0, "The total number of discards merged."),
    (
        13,
        "node_disk_discarded_sectors_total",
        "counter",
        1.0,
        "The total number of sectors discarded successfully.",
    ),
    (
        14,
        "node_disk_discard_time_seconds_total",
        "counter",
        _MS,
        "This is the total number of seconds spent by all discards.",
    ),
    (
        15,
        "node_disk_flush_requests_total",
        "counter",
        1.0,
        "The total number of flush requests completed successfully",
    ),
    (
        16,
        "node_disk_flush_requests_time_seconds_total",
        "counter",
        _MS,
        "This is the total number of seconds spent by all flush requests.",
    ),
)


_ATA = (
    ("ID_ATA_WRITE_CACHE", "node_disk_ata_write_cache", "ATA disk has a write cache."),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
)


def udev_properties(text: str) -> dict[str, str]:
    """The E:KEY=VALUE lines of a udev database entry."""
    properties = {}
    for line in text.splitlines():
        if line.startswith("E:"):
            name, sep, value = line[2:].partition("=")
            if sep:
                properties[name] = value
    return properties


class DiskstatsCollector:
    name = "diskstats"

    def __init__(self, settings: DiskstatsSettings, host: HostPaths) -> None:
        self._path = os.path.join(host.proc, "diskstats")
        self._block = os.path.join(host.sys, "block")
        self._exclude = re.compile(settings.device_exclude) if settings.device_exclude else None
        self._udev = host.in_root(_UDEV_DATA)

    def collect(self) -> list[MetricFamily]:
        families = [
            (counter if kind == "counter" else gauge)(name, help_text)
            for _, name, kind, _, help_text in _COLUMNS
        ]
        info = gauge("node_disk_info", "Info of /sys/block/<block_device>.")
        filesystem = gauge("node_disk_filesystem_info", "Info about disk filesystem.")
        mapper = gauge("node_disk_device_mapper_info", "Info about disk device mapper.")
        ata = {key: gauge(name, help_text) for key, name, help_text in _ATA}
        for line in read_text(self._path).splitlines():
            parts = line.split()
            if len(parts) < 14:
                continue
            device = parts[2]
            if self._exclude and self._exclude.search(device):
                continue
            labels = (("device", device),)
            udev = self._udev_properties(parts[0], parts[1])
            info.samples.append(Sample(self._info_labels(device, parts[0], parts[1], udev), 1.0))
            columns = parts[3:]
            for family, (index, _, _, scale, _) in zip(families, _COLUMNS):
                if index < len(columns):
                    family.samples.append(Sample(labels, float(columns[index]) * scale))
            if udev.get("ID_FS_TYPE"):
                filesystem.samples.append(Sample(_filesystem_labels(device, udev), 1.0))
            if udev.get("DM_NAME"):
                mapper.samples.append(Sample(_mapper_labels(device, udev), 1.0))
            if udev.get("ID_ATA"):
                for key, family in ata.items():
                    try:
                        family.samples.append(Sample(labels, float(udev[key])))
                    except (KeyError, ValueError):  # attribute absent or not a number
                        continue
        return [
            *(family for family in families if family.samples),
            info,
            filesystem,
            mapper,
            *ata.values(),
        ]

    def _udev_properties(self, major: str, minor: str) -> dict[str, str]:
        """The device's udev database entry; empty where udev has no record (containers
        without /run/udev, virtual disks)."""
        try:
            return udev_properties(read_text(os.path.join(self._udev, f"b{major}:{minor}")))
        except OSError:
            return {}

    def _rotational(self, device: str) -> str:
        """queue/rotational, "0" when unreadable (node_exporter since 1.12; 1.9.0 also says "0"
        whenever any of ~30 other queue attributes is missing, e.g. io_timeout on virtio)."""
        try:
            text = read_text(os.path.join(self._block, device, "queue/rotational")).strip()
        except OSError:
            return "0"
        return "1" if text == "1" else "0"

    def _info_labels(
        self, device: str, major: str, minor: str, udev: dict[str, str]
    ) -> tuple[tuple[str, str], ...]:
        """node_disk_info's labels: the device's identity from udev's database."""
        serial = udev.get("SCSI_IDENT_SERIAL") or udev.get("ID_SERIAL_SHORT", "")
        return (
            ("device", device),
            ("major", major),
            ("minor", minor),
            ("model", udev.get("ID_MODEL", "")),
            ("path", udev.get("ID_PATH", "")),
            ("revision", udev.get("ID_REVISION", "")),
            ("rotational", self._rotational(device)),
            ("serial", serial),
            ("wwn", udev.get("ID_WWN", "")),
        )


def _filesystem_labels(device: str, udev: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (
        ("device", device),
        ("type", udev["ID_FS_TYPE"]),
        ("usage", udev.get("ID_FS_USAGE", "")),
        ("uuid", udev.get("ID_FS_UUID", "")),
        ("version", udev.get("ID_FS_VERSION", "")),
    )


def _mapper_labels(device: str, udev: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (
        ("device", device),
        ("lv_layer", udev.get("DM_LV_LAYER", "")),
        ("lv_name", udev.get("DM_LV_NAME", "")),
        ("name", udev["DM_NAME"]),
        ("uuid", udev.get("DM_UUID", "")),
        ("vg_name", udev.get("DM_VG_NAME", "")),
    )
