"""Hardware sensors from /sys/class/hwmon (node_exporter's hwmon collector): temperatures with
their limits, fans, voltages, currents, power, energy, humidity, PWM and alarms, plus
node_hwmon_chip_names and node_hwmon_sensor_label. Hosts without sensors (most VMs) publish
nothing but what the kernel lists.

A chip is named after the device its hwmon directory belongs to (parent directory and device,
e.g. platform_coretemp_0 or pci0000:00_0000:00:03_0), else its name file, else the directory.
Several hwmon directories under one device (an ieee80211 phy has several) would share that name
and publish identical series; as node_exporter does since 1.12, each then gets a suffix: its name
file when that tells them apart, else its hwmonN directory."""

from __future__ import annotations

import os
import re
from collections import Counter

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors.host import HostPaths, read_bytes

_INVALID = re.compile(r"[^a-z0-9:_]")
_FILE_NAME = re.compile(r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$")
_SENSOR_TYPES = frozenset(
    (
        "vrm", "beep_enable", "update_interval", "in", "cpu", "fan", "pwm", "temp", "curr",
        "power", "energy", "humidity", "intrusion", "freq",
    )
)  # fmt: skip
_GO_FLOAT = re.compile(
    r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)", re.I
)

Labels = tuple[tuple[str, str], ...]


def clean_name(name: str) -> str:
    """node_exporter's cleanMetricName: lower case, each character outside [a-z0-9:_] replaced by
    an underscore, underscores trimmed from both ends."""
    return _INVALID.sub("_", name.lower()).strip("_")


def _number(text: str) -> float | None:
    """strconv.ParseFloat's accepted forms (no spaces or underscores, unlike float())."""
    return float(text) if _GO_FLOAT.fullmatch(text) else None


def split_file_name(file_name: str) -> tuple[str, int, str] | None:
    """temp1_crit_alarm -> ("temp", 1, "crit_alarm"); pwm2 -> ("pwm", 2, "")."""
    match = _FILE_NAME.match(file_name)
    if not match:
        return None
    return match.group("type"), int(match.group("id") or 0), match.group("property") or ""


def _read_attribute(path: str) -> str | None:
    try:
        # node_exporter reads at most 128 bytes of an attribute.
        return read_bytes(path)[:128].decode("utf-8", errors="replace").strip("\n")
    except OSError:  # unreadable sensors (EIO, ENODATA) are common: skip them
        return None


def _sensor_data(directory: str, data: dict[str, dict[str, str]]) -> None:
    for file_name in sorted(os.listdir(directory)):
        parts = split_file_name(file_name)
        if parts is None or parts[0] not in _SENSOR_TYPES:
            continue
        value = _read_attribute(os.path.join(directory, file_name))
        if value is not None:
            data.setdefault(f"{parts[0]}{parts[1]}", {})[parts[2]] = value


def _read_name_file(directory: str) -> str:
    try:
        return read_bytes(os.path.join(directory, "name")).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _device_name(directory: str) -> str:
    """The chip name before disambiguation (node_exporter's hwmonName)."""
    device = os.path.join(directory, "device")
    if os.path.exists(device):
        real = os.path.realpath(device)
        parent, name = os.path.split(real)
        clean_type, clean_device = clean_name(os.path.basename(parent)), clean_name(name)
        if clean_type and clean_device:
            return f"{clean_type}_{clean_device}"
        if clean_device:
            return clean_device
    from_file = clean_name(_read_name_file(directory))
    if from_file:
        return from_file
    return clean_name(os.path.basename(os.path.realpath(directory)))


class _Families:
    """Families by name, created on first use with the help text of their first sample."""

    def __init__(self) -> None:
        self.by_name: dict[str, MetricFamily] = {}

    def add(self, kind: str, name: str, help_text: str, labels: Labels, value: float) -> None:
        family = self.by_name.get(name)
        if family is None:
            family = (counter if kind == "counter" else gauge)(name, help_text)
            self.by_name[name] = family
        family.samples.append(Sample(labels, value))


def _sensor_families(out: _Families, chip: str, sensor: str, data: dict[str, str]) -> None:
    """One sensor's series, with node_exporter's name, unit and help for each attribute."""
    sensor_type = (split_file_name(sensor) or ("", 0, ""))[0]
    labels = (("chip", chip), ("sensor", sensor))
    if "label" in data:
        out.add(
            "gauge",
            "node_hwmon_sensor_label",
            "Label for given chip and sensor",
            (("chip", chip), ("label", data["label"]), ("sensor", sensor)),
            1.0,
        )
    if sensor_type in ("beep_enable", "vrm", "update_interval"):
        single = {
            "beep_enable": ("node_hwmon_beep_enabled", "Hardware beep enabled", 1.0),
            "vrm": ("node_hwmon_voltage_regulator_version", "Hardware voltage regulator", 1.0),
            "update_interval": (
                "node_hwmon_update_interval_seconds",
                "Hardware monitor update interval",
                0.001,
            ),
        }
        name, help_text, scale = single[sensor_type]
        if sensor_type == "beep_enable":
            value: float | None = 1.0 if data.get("") == "1" else 0.0
        else:
            value = _number(data.get("", ""))
        if value is not None:
            out.add("gauge", name, help_text, labels, value * scale)
        return
    prefix = f"node_hwmon_{sensor_type}"
    for element, text in sorted(data.items()):
        if element == "label":
            continue
        name = prefix
        if element == "input":
            if "" in data:
                name += "_input"
        elif element:
            name += f"_{clean_name(element)}"
        value = _number(text)
        if value is None:
            continue
        if sensor_type == "freq" and element == "input":
            if "label" in data:  # GPU clocks: labelled by what they clock, not by sensor
                freq_labels = (("chip", chip), ("sensor", clean_name(data["label"])))
                help_text = "Hardware monitor for GPU frequency in MHz"
                out.add("gauge", name + "_freq_mhz", help_text, freq_labels, value * 1e-6)
            continue
        kind, suffix, help_text, scale = _describe(sensor_type, element)
        out.add(kind, name + suffix, help_text, labels, value * scale)


def _describe(sensor_type: str, element: str) -> tuple[str, str, str, float]:
    """(type, name suffix, help, scale) of one attribute, in node_exporter's order of checks."""
    if element in ("fault", "alarm"):
        return "gauge", "", f"Hardware sensor {element} status ({sensor_type})", 1.0
    if element == "beep":
        return "gauge", "_enabled", "Hardware monitor sensor has beeping enabled", 1.0
    if sensor_type in ("in", "cpu"):
        return "gauge", "_volts", f"Hardware monitor for voltage ({element})", 0.001
    if sensor_type == "temp" and element != "type":
        what = element or "input"
        return "gauge", "_celsius", f"Hardware monitor for temperature ({what})", 0.001
    if sensor_type == "curr":
        return "gauge", "_amps", f"Hardware monitor for current ({element})", 0.001
    if sensor_type == "energy":
        help_text = f"Hardware monitor for joules used so far ({element})"
        return "counter", "_joule_total", help_text, 1e-6
    if sensor_type == "power":
        if element == "accuracy":
            return "gauge", "", "Hardware monitor power meter accuracy, as a ratio", 1e-6
        if element in ("average_interval", "average_interval_min", "average_interval_max"):
            help_text = f"Hardware monitor power usage update interval ({element})"
            return "gauge", "_seconds", help_text, 0.001
        return "gauge", "_watt", f"Hardware monitor for power usage in watts ({element})", 1e-6
    if sensor_type == "humidity":
        help_text = (
            "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity "
            f"as a percentage) ({element})"
        )
        return "gauge", "", help_text, 1e-6
    if sensor_type == "fan" and element in ("input", "min", "max", "target"):
        return "gauge", "_rpm", f"Hardware monitor for fan revolutions per minute ({element})", 1.0
    return "gauge", "", f"Hardware monitor {sensor_type} element {element}", 1.0


def chip_names(directories: list[str]) -> dict[str, str]:
    """{hwmon directory: unique chip label}: device-derived names, disambiguated where several
    directories share one."""
    base = {directory: _device_name(directory) for directory in directories}
    name_file = {d: _read_name_file(d).strip() for d in directories}
    per_base = Counter(base.values())
    per_base_and_file = Counter((base[d], name_file[d]) for d in directories)
    names = {}
    for directory in directories:
        chip = base[directory]
        if per_base[chip] > 1:
            suffix = clean_name(name_file[directory])
            if not suffix or per_base_and_file[(chip, name_file[directory])] > 1:
                suffix = clean_name(os.path.basename(directory))
            chip = f"{chip}_{suffix}"
        names[directory] = chip
    return names


class HwmonCollector:
    name = "hwmon"

    def __init__(self, host: HostPaths) -> None:
        self._root = os.path.join(host.sys, "class/hwmon")

    def collect(self) -> list[MetricFamily]:
        try:
            entries = sorted(os.listdir(self._root))
        except FileNotFoundError:
            return []
        directories = [
            os.path.join(self._root, entry)
            for entry in entries
            if os.path.isdir(os.path.join(self._root, entry))  # follows the class symlinks
        ]
        out = _Families()
        for directory, chip in chip_names(directories).items():
            data: dict[str, dict[str, str]] = {}
            try:
                _sensor_data(directory, data)
                if os.path.exists(os.path.join(directory, "device")):
                    _sensor_data(os.path.join(directory, "device"), data)
            except OSError:  # the chip went away while being read
                continue
            pretty = clean_name(_read_name_file(directory))
            if pretty:
                out.add(
                    "gauge",
                    "node_hwmon_chip_names",
                    "Annotation metric for human-readable chip names",
                    (("chip", chip), ("chip_name", pretty)),
                    1.0,
                )
            for sensor, sensor_data in sorted(data.items()):
                _sensor_families(out, chip, sensor, sensor_data)
        return [out.by_name[name] for name in sorted(out.by_name)]
