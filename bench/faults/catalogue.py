"""What the fault benchmark injects and how long each phase lasts.

Each fault runs in the host container as a transient systemd unit (`systemd-run`), so recovery
is `systemctl stop` of that unit (every process it started goes, a fork loop included) and then
its cleanup command. For each system, the alert names that count as detecting it ("the right
kind"); everything else that fires meanwhile is listed, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

# The agent collects every 15 s by default; the benchmark collects every second, so one second of
# benchmark stands for 15 s of a host's life. Every duration of the configuration (rule `for`s,
# repeat and resolve intervals; Prometheus' scrape and evaluation intervals, rule `for`s and
# ranges; Alertmanager's group timers) is divided by this. Baseline warm-ups are counted in
# samples and scale by themselves.
TIME_SCALE = 15
INTERVAL = 1.0
MEMORY_BYTES = 1 << 30  # the host container's memory limit

# The second agent runs the defaults without the learned-baseline rule, to show what it adds.
SYSTEMS = ("agent", "agent_thresholds", "prometheus")
SYSTEM_TITLES = {
    "agent": "aiops-agent, defaults",
    "agent_thresholds": "aiops-agent, threshold rules only",
    # results saved before HostAnomalousSeries was a default: the defaults with it switched on
    "agent_anomaly": "aiops-agent + HostAnomalousSeries",
    "prometheus": "node_exporter + Prometheus rules",
}

CPU_SERIES = frozenset({"aiops_agent_cpu_utilization_ratio", "aiops_agent_load1_per_cpu"})
LOAD_SERIES = frozenset({"aiops_agent_load1_per_cpu"})
CPU_ALERTS = frozenset({"HostCpuSaturation", "HostLoadPerCore"})
PROM_CPU_ALERTS = frozenset({"HostHighCpuLoad", "HostSystemSaturation"})


@dataclass(frozen=True)
class Fault:
    name: str
    title: str
    # Shell command run in the container; {ramp} is replaced by the seconds a gradual fault takes
    # to reach its worst (two thirds of the hold time).
    command: str
    agent: frozenset[str]  # the agent's default rules that should fire
    anomaly: frozenset[str]  # series whose HostAnomalousSeries alert also counts
    prometheus: frozenset[str]
    cleanup: str = ""
    properties: tuple[str, ...] = ()  # systemd-run -p ...
    packages: tuple[str, ...] = ()  # Debian packages the container needs for it
    mountpoint: str = ""  # when set, a right-kind alert must carry this mountpoint label
    # What the fault did, as node_exporter saw it: a PromQL expression and what it measures,
    # whose highest value during the hold is reported (when Prometheus runs).
    evidence: tuple[str, str] = ("", "")
    needs_swap: bool = False  # runs only when the run adds a swap file (run.py --swap-file)

    def right_kinds(self, system: str) -> frozenset[str]:
        if system == "prometheus":
            return self.prometheus
        return self.agent

    @property
    def threshold(self) -> bool:
        """Whether the agent's default (threshold) rules are meant to catch it."""
        return bool(self.agent)


FAULTS: tuple[Fault, ...] = (
    Fault(
        name="cpu",
        title="CPU saturation (stress-ng, 4 workers on 1 CPU)",
        command="stress-ng --cpu 4 --timeout 0",
        agent=CPU_ALERTS,
        anomaly=CPU_SERIES,
        prometheus=PROM_CPU_ALERTS,
        packages=("stress-ng",),
        evidence=(
            '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5s]))',
            "CPU busy",
        ),
    ),
    Fault(
        name="memory",
        title="Memory leak up to 95% used, at a steady rate",
        command="python3 /opt/faults/leak.py --ramp-seconds {ramp} --floor 0.05",
        agent=frozenset({"HostMemoryPressure"}),
        anomaly=frozenset({"aiops_agent_memory_utilization_ratio"}),
        prometheus=frozenset(
            {"HostOutOfMemory", "HostMemoryUnderMemoryPressure", "HostOomKillDetected"}
        ),
        evidence=(
            "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
            "memory used",
        ),
    ),
    Fault(
        name="swap_storm",
        title="Swap storm: a working set above memory, paged out and in at a steady rate",
        # Only with `run.py --swap-file SIZE`: the container may then swap up to SIZE, and the
        # working set is its memory plus a quarter of that, written at 12 000 pages a second in
        # a cycle, so every write brings a page in from swap and pushes one out for the whole
        # hold (about 24 000 pages/s; 2 300 major faults/s, swap readahead bringing most pages
        # in before their write). A bounded rate, not stress-ng --vm writing as fast as it can:
        # reclaim fell behind that writer and the container's memory cgroup OOM-killed it. The
        # memory-swap limit bounds it: it cannot push anything outside the container into swap.
        command="python3 /opt/faults/swapstorm.py --mib {storm_mib} --rate 12000 --workers 4",
        agent=frozenset({"HostSwapActivity"}),
        anomaly=frozenset({"aiops_agent_memory_utilization_ratio"}),
        # The rule set has no swap-rate rule: its swap rule is about space, and swap-ins are
        # major page faults, which its memory-pressure rule counts.
        prometheus=frozenset({"HostSwapIsFillingUp", "HostMemoryUnderMemoryPressure"}),
        needs_swap=True,
        evidence=(
            "rate(node_vmstat_pswpin[5s]) + rate(node_vmstat_pswpout[5s])",
            "pages/s swapped in and out",
        ),
    ),
    Fault(
        name="disk_fill",
        title="Disk filling at a steady rate to full (64 MiB ext4)",
        command="python3 /opt/faults/fill.py space /srv/fill --ramp-seconds {ramp}",
        cleanup="rm -rf /srv/fill/fill",
        agent=frozenset({"HostFilesystemSpace", "HostFilesystemFillingUp"}),
        anomaly=frozenset(),
        prometheus=frozenset({"HostOutOfDiskSpace", "HostDiskWillFillIn24Hours"}),
        mountpoint="/srv/fill",
        evidence=(
            '1 - node_filesystem_avail_bytes{mountpoint="/srv/fill"}'
            ' / node_filesystem_size_bytes{mountpoint="/srv/fill"}',
            "space used",
        ),
    ),
    Fault(
        name="inodes",
        title="Inode exhaustion at a steady rate (16 MiB ext4)",
        command="python3 /opt/faults/fill.py inodes /srv/inodes --ramp-seconds {ramp}",
        cleanup="rm -rf /srv/inodes/fill",
        agent=frozenset({"HostFilesystemInodes", "HostFilesystemInodesFillingUp"}),
        anomaly=frozenset(),
        prometheus=frozenset({"HostOutOfInodes", "HostInodesWillFillIn24Hours"}),
        mountpoint="/srv/inodes",
        evidence=(
            '1 - node_filesystem_files_free{mountpoint="/srv/inodes"}'
            ' / node_filesystem_files{mountpoint="/srv/inodes"}',
            "inodes used",
        ),
    ),
    Fault(
        name="io_writer",
        title="I/O-saturating writer (fio, direct 64 KiB random writes, depth 16)",
        command=(
            "fio --name=writer --filename=/var/tmp/fio.dat --size=256M --rw=randwrite --bs=64k"
            " --direct=1 --ioengine=libaio --iodepth=16 --time_based --runtime=86400"
            " --output=/dev/null"
        ),
        cleanup="rm -f /var/tmp/fio.dat",
        agent=frozenset({"HostDiskIoSaturation"}),
        anomaly=frozenset({"node_disk_written_bytes_total"}),
        prometheus=frozenset(
            {
                "HostUnusualDiskWriteRate",
                "HostUnusualDiskIo",
                "HostUnusualDiskWriteLatency",
                "HostCpuHighIowait",
            }
        ),
        packages=("fio",),
        evidence=(
            "sum(rate(node_disk_written_bytes_total[5s])) / 1e6",
            "MB/s written",
        ),
    ),
    Fault(
        name="net_flood",
        title="Network flood on flood0 to a peer namespace inside the host (iperf3, both ways)",
        command="/opt/faults/netflood.sh",
        agent=frozenset({"HostNetworkSaturation"}),
        anomaly=frozenset(
            {"node_network_receive_bytes_total", "node_network_transmit_bytes_total"}
        ),
        prometheus=frozenset({"HostUnusualNetworkThroughputIn", "HostUnusualNetworkThroughputOut"}),
        packages=("iperf3",),
        evidence=(
            'sum(rate(node_network_receive_bytes_total{device="flood0"}[5s])) / 1e6',
            "MB/s received on flood0",
        ),
    ),
    Fault(
        name="fd_leak",
        title="File descriptor leak until the process limit refuses more (EMFILE)",
        command="python3 /opt/faults/fdleak.py --ramp-seconds {ramp}",
        properties=("LimitNOFILE=65536",),
        agent=frozenset({"HostProcessFdLimit"}),
        anomaly=frozenset({"node_filefd_allocated"}),
        prometheus=frozenset({"HostFileDescriptorsRunningOut"}),
        evidence=(
            "node_filefd_allocated",
            "file handles allocated",
        ),
    ),
    Fault(
        name="fork_loop",
        title="Runaway fork loop, bounded by RLIMIT_NPROC 512 for its user",
        command="/opt/faults/forkloop.sh",
        properties=("User=benchfork", "LimitNPROC=512"),
        agent=frozenset({"HostUserProcessLimit"}),
        anomaly=CPU_SERIES,
        prometheus=PROM_CPU_ALERTS,
        evidence=(
            "node_load1",
            "load1",
        ),
    ),
    Fault(
        name="d_state",
        title="8 processes stuck in D state on a hung FUSE mount (a dead NFS server)",
        command="/opt/faults/dstate.sh /mnt/stuck 8",
        cleanup="umount -l /mnt/stuck 2>/dev/null; true",
        agent=frozenset({"HostLoadPerCore"}),
        anomaly=LOAD_SERIES,
        prometheus=frozenset({"HostSystemSaturation", "HostFilesystemDeviceError"}),
        evidence=(
            "node_load1",
            "load1",
        ),
    ),
)

# Faults a run leaves out unless asked, and why.
NOT_RUN = {
    "swap_storm": (
        "Swap storm: not run. Containers share the machine's kernel and swap; this machine has "
        "none, and swap for the host container means swap for the whole machine, which the "
        "benchmark adds only when asked (`--swap-file SIZE`, `make -C bench faults "
        "SWAP_FILE=1G`). HostSwapActivity is not exercised."
    ),
}


@dataclass(frozen=True)
class Setting:
    name: str
    warmup: bool  # wait for the baselines' warm-up before the quiet baseline starts
    baseline: float  # seconds of quiet baseline (with background activity if enabled)
    hold: float  # seconds each fault is held
    recovery: float  # seconds after recovery before the next fault
    faults: tuple[str, ...]
    systems: tuple[str, ...]
    background: bool
    drain: float = 30.0  # after the last fault, time for late resolved notifications
    swap_bytes: int = 0  # the swap file the run adds (--swap-file), and the container may use

    @property
    def storm_mib(self) -> int:
        """The swap storm's working set: the container's memory and a quarter of its swap
        allowance, so that it swaps with room to spare under the memory-swap limit."""
        return (MEMORY_BYTES + self.swap_bytes // 4) >> 20

    @property
    def ramp(self) -> float:
        return round(self.hold * 2 / 3, 1)


ALL_FAULTS = tuple(fault.name for fault in FAULTS)

SETTINGS = {
    # about 45 minutes: 3 host-hours of quiet baseline, each fault held 22.5 host-minutes
    "full": Setting(
        name="full",
        warmup=True,
        baseline=720.0,
        hold=90.0,
        recovery=75.0,
        faults=ALL_FAULTS,
        systems=SYSTEMS,
        background=True,
    ),
    # about 3 minutes: one fault the default rules catch, the agent only, for CI-like checks
    "smoke": Setting(
        name="smoke",
        warmup=False,
        baseline=20.0,
        hold=60.0,
        recovery=30.0,
        faults=("disk_fill",),
        systems=("agent",),
        background=False,
        drain=10.0,
    ),
}


def fault(name: str) -> Fault:
    for candidate in FAULTS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no fault {name!r} (known: {', '.join(ALL_FAULTS)})")


def packages(setting: Setting) -> tuple[str, ...]:
    """Debian packages the host container needs beyond the molecule image: none for a setting
    that uses none, else all that any setting uses (one derived image, cached by its tag)."""
    used = [package for name in setting.faults for package in fault(name).packages]
    if not (used or setting.background or "prometheus" in setting.systems):
        return ()
    everything = {package for item in FAULTS for package in item.packages}
    return tuple(sorted(everything | {"prometheus-node-exporter", "logrotate"}))
