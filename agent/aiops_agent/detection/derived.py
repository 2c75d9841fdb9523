"""Series the plugin derives from collected ones, so rules stay single-series comparisons instead
of needing an expression language: the inode used ratio, 1 - files_free / files per file
system, and each interface's throughput over its link speed per direction. Derived series are
exported on /metrics like the collected ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.base.naming import host_series_name
from aiops_agent.config.alerting_schema import INODES_USED_RATIO, NETWORK_UTILIZATION_RATIO
from aiops_agent.detection.rates import RateTracker

DIRECTIONS = ("receive", "transmit")


def inodes_used_ratio(
    index: Mapping[str, MetricFamily], compat_names: bool
) -> Optional[MetricFamily]:
    files = index.get(host_series_name("node_filesystem_files", compat_names))
    free = index.get(host_series_name("node_filesystem_files_free", compat_names))
    if files is None or free is None:
        return None
    free_by_labels = {sample.labels: sample.value for sample in free.samples}
    samples = [
        # Without node_exporter 1.9's device_error label (empty here): the same labels as
        # aiops_agent_filesystem_used_ratio, so space and inode alerts group alike.
        Sample(
            tuple(pair for pair in sample.labels if pair[0] != "device_error"),
            1.0 - free_by_labels[sample.labels] / sample.value,
        )
        for sample in files.samples
        # File systems without a fixed inode table (btrfs, some FUSE) report 0 files.
        if sample.value > 0 and sample.labels in free_by_labels
    ]
    return gauge(
        INODES_USED_RATIO,
        "Fraction of inodes in use: 1 - node_filesystem_files_free / node_filesystem_files.",
        samples,
    )


def network_utilization_ratio(
    index: Mapping[str, MetricFamily], compat_names: bool, rates: RateTracker, timestamp: float
) -> MetricFamily:
    """Bytes per second received and sent over the link's speed, per interface and direction.
    Interfaces without a known speed (-1: virtio without a configured speed, down links;
    absent: collectors.netclass off) get none, so the family can be empty. The rates come from
    the plugin's shared tracker: a counter a baseline also reads is differenced once."""
    speed = index.get(host_series_name("node_network_speed_bytes", compat_names))
    link_speed = {
        dict(sample.labels).get("device"): sample.value
        for sample in (speed.samples if speed is not None else [])
        if sample.value > 0
    }
    samples = []
    for direction in DIRECTIONS:
        name = host_series_name(f"node_network_{direction}_bytes_total", compat_names)
        family = index.get(name)
        for sample in family.samples if family is not None else []:
            device = dict(sample.labels).get("device")
            if device not in link_speed:
                continue
            rate = rates.rate((name, sample.labels), timestamp, sample.value)
            if rate is not None:
                labels = tuple(sorted((*sample.labels, ("direction", direction))))
                samples.append(Sample(labels, rate / link_speed[device]))
    return gauge(
        NETWORK_UTILIZATION_RATIO,
        "Bytes per second received or sent (direction label) over the interface's link speed "
        "(node_network_speed_bytes); interfaces without a known speed are left out.",
        samples,
    )
