"""Temperatures from hardware monitoring chips in sysfs (node_exporter's hwmon collector, for the
temperature sensors). Hosts without sensors, such as most VMs, publish no series."""

from __future__ import annotations

import os
import re

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text

_TEMP_INPUT = re.compile(r"^temp(\d+)_input$")


def _clean(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class HwmonCollector:
    name = "hwmon"

    def __init__(self, host: HostPaths) -> None:
        self._root = os.path.join(host.sys, "class/hwmon")

    def _chip_name(self, chip_dir: str) -> str:
        """As node_exporter names chips: subsystem and device of the chip's device link (e.g.
        platform_coretemp_0), else the driver's name file."""
        device = os.path.join(chip_dir, "device")
        if os.path.exists(device):
            real = os.path.realpath(device)
            subsystem = os.path.basename(os.path.realpath(os.path.join(real, "subsystem")))
            return _clean(f"{subsystem}_{os.path.basename(real)}")
        try:
            return _clean(read_text(os.path.join(chip_dir, "name")).strip())
        except OSError:
            return _clean(os.path.basename(chip_dir))

    def collect(self) -> list[MetricFamily]:
        family = gauge("node_hwmon_temp_celsius", "Hardware monitor for temperature (input)")
        try:
            chips = sorted(os.listdir(self._root))
        except FileNotFoundError:
            return [family]
        for chip in chips:
            chip_dir = os.path.join(self._root, chip)
            try:
                files = sorted(os.listdir(chip_dir))
            except OSError:
                continue
            chip_name = self._chip_name(chip_dir)
            for file_name in files:
                match = _TEMP_INPUT.match(file_name)
                if not match:
                    continue
                try:
                    millidegrees = float(read_text(os.path.join(chip_dir, file_name)))
                except (OSError, ValueError):  # sensors that fail to read are common; skip them
                    continue
                labels = (("chip", chip_name), ("sensor", f"temp{match.group(1)}"))
                family.samples.append(Sample(labels, millidegrees / 1000.0))
        return [family]
