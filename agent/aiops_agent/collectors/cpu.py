"""CPU time by mode, utilisation, and the kernel counters of /proc/stat (node_exporter's cpu and
stat collectors)."""

from __future__ import annotations

import os

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors.host import HostPaths, read_text

# /proc/stat's per-CPU columns, in order; guest time is also counted in user and nice.
_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_GUEST_MODES = ("user", "nice")
_IDLE_MODES = ("idle", "iowait")


class CpuCollector:
    name = "cpu"

    def __init__(self, host: HostPaths) -> None:
        self._stat_path = os.path.join(host.proc, "stat")
        self._cpu_dir = os.path.join(host.sys, "devices/system/cpu")
        self._ticks_per_second = float(os.sysconf("SC_CLK_TCK"))
        self._previous_totals: tuple[float, float] | None = None  # (busy, all) seconds

    def collect(self) -> list[MetricFamily]:
        seconds = counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.")
        guest = counter(
            "node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode."
        )
        families = [seconds, guest]
        busy_total = all_total = 0.0
        for line in read_text(self._stat_path).splitlines():
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name != "cpu":
                cpu = name[3:]
                values = [int(v) / self._ticks_per_second for v in rest.split()]
                for mode, value in zip(_MODES, values):
                    seconds.samples.append(Sample((("cpu", cpu), ("mode", mode)), value))
                    all_total += value
                    if mode not in _IDLE_MODES:
                        busy_total += value
                for mode, value in zip(_GUEST_MODES, values[8:10]):
                    guest.samples.append(Sample((("cpu", cpu), ("mode", mode)), value))
            elif name in _STAT_COUNTERS:
                metric, kind, help_text = _STAT_COUNTERS[name]
                value = float(rest.split()[0])
                families.append(MetricFamily(metric, kind, help_text, [Sample((), value)]))
        families.append(self._utilisation(busy_total, all_total))
        families.extend(cpu_topology_families(self._cpu_dir))
        return families

    def _utilisation(self, busy: float, total: float) -> MetricFamily:
        """Share of CPU time, across all CPUs, not idle or waiting for I/O since the last
        collection: the figure humans and threshold rules reason in."""
        family = gauge(
            "aiops_agent_cpu_utilization_ratio",
            "Fraction of CPU time spent busy (not idle or iowait) since the previous collection.",
        )
        if self._previous_totals is not None:
            busy_delta = busy - self._previous_totals[0]
            total_delta = total - self._previous_totals[1]
            if total_delta > 0:
                family.samples.append(Sample((), min(max(busy_delta / total_delta, 0.0), 1.0)))
        self._previous_totals = (busy, total)
        return family


_STAT_COUNTERS = {
    "ctxt": ("node_context_switches_total", "counter", "Total number of context switches."),
    "intr": ("node_intr_total", "counter", "Total number of interrupts serviced."),
    "processes": ("node_forks_total", "counter", "Total number of forks."),
    "procs_running": ("node_procs_running", "gauge", "Number of processes in runnable state."),
    "procs_blocked": (
        "node_procs_blocked",
        "gauge",
        "Number of processes blocked waiting for I/O to complete.",
    ),
}


def _read_uint(path: str) -> int | None:
    """An unsigned decimal attribute, or None (missing, or e.g. a package id of -1)."""
    try:
        text = read_text(path).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def parse_cpu_list(text: str) -> list[int]:
    """ "0-2,5" -> [0, 1, 2, 5] (the kernel's cpulist format)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def cpu_topology_families(cpu_dir: str) -> list[MetricFamily]:
    """node_exporter 1.9's per-CPU sysfs families: thermal throttling per core and package,
    isolated CPUs, and each CPU's online state."""
    core_throttles = counter(
        "node_cpu_core_throttles_total", "Number of times this CPU core has been throttled."
    )
    package_throttles = counter(
        "node_cpu_package_throttles_total", "Number of times this CPU package has been throttled."
    )
    try:
        cpus = sorted(
            (int(entry[3:]), entry)
            for entry in os.listdir(cpu_dir)
            if entry.startswith("cpu") and entry[3:].isdigit()
        )
    except OSError:
        cpus = []
    cores: dict[tuple[int, int], int | None] = {}
    packages: dict[int, int | None] = {}
    for _, entry in cpus:
        directory = os.path.join(cpu_dir, entry)
        package = _read_uint(os.path.join(directory, "topology/physical_package_id"))
        core = _read_uint(os.path.join(directory, "topology/core_id"))
        if package is None or core is None:
            continue
        if (package, core) not in cores:  # read once per core, as node_exporter does
            path = os.path.join(directory, "thermal_throttle/core_throttle_count")
            cores[(package, core)] = _read_uint(path)
        if package not in packages:
            path = os.path.join(directory, "thermal_throttle/package_throttle_count")
            packages[package] = _read_uint(path)
    for (package, core), count in sorted(cores.items()):
        if count is not None:
            labels = (("core", str(core)), ("package", str(package)))
            core_throttles.samples.append(Sample(labels, float(count)))
    for package, count in sorted(packages.items()):
        if count is not None:
            package_throttles.samples.append(Sample((("package", str(package)),), float(count)))
    families = [core_throttles, package_throttles]
    try:
        isolated = parse_cpu_list(read_text(os.path.join(cpu_dir, "isolated")))
    except (OSError, ValueError):
        isolated = []
    families.append(
        gauge(
            "node_cpu_isolated",
            "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
            [Sample((("cpu", str(cpu)),), 1.0) for cpu in isolated],
        )
    )
    online = gauge("node_cpu_online", "CPUs that are online and being scheduled.")
    # Without an online file for the first CPU the kernel cannot take CPUs offline: node_exporter
    # then publishes nothing.
    if cpus and os.path.exists(os.path.join(cpu_dir, cpus[0][1], "online")):
        for number, entry in cpus:
            try:
                state = read_text(os.path.join(cpu_dir, entry, "online")).strip()
            except OSError:
                state = ""
            online.samples.append(Sample((("cpu", str(number)),), 1.0 if state == "1" else 0.0))
    families.append(online)
    return families
