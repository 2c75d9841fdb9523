"""Series the plugin derives from collected ones, so rules stay single-series comparisons instead
of needing an expression language: the inode used ratio, 1 - files_free / files per file
system. Derived series are exported on /metrics like the collected ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.base.naming import host_series_name
from aiops_agent.config.alerting_schema import INODES_USED_RATIO


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
