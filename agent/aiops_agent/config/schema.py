"""The configuration schema: one frozen dataclass per section, each key with its type, default,
bounds and documentation. The loader validates against these classes, the annotated example
config documents them, and nothing else restates them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiops_agent.base.listen import ListenAddress

# Section modules import key from keys.py too: importing it from here would be an import cycle.
from aiops_agent.config.alerting_schema import AlertingSection, DetectionSection
from aiops_agent.config.keys import key
from aiops_agent.config.notify_schema import GroupingSection, OutboxSection, Receiver, Route
from aiops_agent.config.types import Duration, Regex


@dataclass(frozen=True)
class AgentSection:
    interval: Duration = key(
        Duration(15.0), "Seconds between collections.", minimum=1, maximum=3600
    )
    state_dir: str = key(
        "",
        "Where the agent keeps its state (alerts, silences, alert outbox, baselines). Empty: "
        "/var/lib/aiops-agent as root, else $XDG_STATE_HOME/aiops-agent "
        "(~/.local/state/aiops-agent). A change takes effect at a restart; a reload that changes "
        "it is refused.",
        restart=True,
    )
    host_root: str = key(
        "/",
        "Prefix under which the host's /proc, /sys and mount points are read, e.g. /host in a "
        "Kubernetes DaemonSet (like node_exporter's --path.rootfs).",
    )
    hostname: str = key("", "Value of the host label on alerts. Empty: the host's own name.")
    shutdown_timeout: Duration = key(
        Duration(10.0), "Longest time a clean stop may take.", minimum=1, maximum=300
    )


@dataclass(frozen=True)
class HttpSection:
    listen: ListenAddress = key(
        ListenAddress("127.0.0.1", 9877),
        "Address of /metrics, /healthz and /readyz. A non-loopback address exposes them to the "
        "network: choose it deliberately.",
    )
    max_connections: int = key(
        32, "Concurrent HTTP connections; more wait in the listen backlog.", minimum=1, maximum=1024
    )
    request_timeout: Duration = key(
        Duration(10.0), "Seconds a client may take to send its request.", minimum=0.1, maximum=300
    )
    web_config_file: str = key(
        "",
        "TLS and basic auth: a file in Prometheus exporter-toolkit's web config format "
        "(tls_server_config, basic_auth_users), relative to this file's directory, re-read on "
        "reload. Empty: plain HTTP without auth. See docs/security.md.",
    )
    health_without_auth: bool = key(
        True,
        "With basic auth on, still serve /healthz and /readyz without credentials, so kubelet and "
        "systemd probes need none; they tell only whether the agent is up and ready.",
    )
    insecure_unauthenticated_writes: bool = key(
        False,
        "Serve the endpoints that change state (POST and DELETE /api/v1/silences) to callers "
        "from the network that did not authenticate. Off: they are served over loopback, or "
        "with basic auth or a verified client certificate (web_config_file), and refused with "
        "403 otherwise. On, anyone who reaches the port can, e.g., silence every alert; the "
        "agent logs a warning at start and on every reload.",
    )


@dataclass(frozen=True)
class LogSection:
    level: str = key(
        "info", "Least severe level logged.", choices=("debug", "info", "warning", "error")
    )
    format: str = key(
        "auto",
        "json, text, or auto (text on a terminal, else JSON).",
        choices=("auto", "json", "text"),
    )


@dataclass(frozen=True)
class MetricsSection:
    node_exporter_names: bool = key(
        True,
        "Expose host series under node_exporter's names (node_*), so its dashboards and rules work "
        "unchanged. false: the same series under aiops_host_*, for running beside node_exporter in "
        "one scrape job.",
    )


@dataclass(frozen=True)
class Toggle:
    enabled: bool = key(True, "Run this collector.")


@dataclass(frozen=True)
class FilesystemCollector:
    enabled: bool = key(True, "Run this collector.")
    mount_points_exclude: Regex = key(
        Regex(
            r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
        ),
        "Mount points to skip (node_exporter's default).",
    )
    fs_types_exclude: Regex = key(
        Regex(
            r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
            r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
            r"|squashfs|erofs|sysfs|tracefs)$"
        ),
        "File system types to skip: pseudo and container file systems (node_exporter's default).",
    )
    mount_points_include: Regex = key(Regex(""), "If set, only mount points matching this.")
    fs_types_include: Regex = key(Regex(""), "If set, only file system types matching this.")
    stat_timeout: Duration = key(
        Duration(5.0),
        "Seconds to wait for statvfs on one mount before reporting it stalled (a hung NFS mount "
        "must not stop the collection loop).",
        minimum=0.1,
        maximum=60,
    )


@dataclass(frozen=True)
class DiskstatsCollector:
    enabled: bool = key(True, "Run this collector.")
    device_exclude: Regex = key(
        Regex(r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"),
        "Block devices to skip: partitions and virtual devices (node_exporter's default).",
    )


@dataclass(frozen=True)
class NetdevCollector:
    enabled: bool = key(True, "Run this collector.")
    device_exclude: Regex = key(
        Regex("^lo$"), "Interfaces to skip (Debian's node_exporter default); e.g. ^(lo|veth.*)$."
    )
    exclude_virtual: bool = key(
        False, "Skip virtual interfaces (those without a device in /sys/class/net/IF/device)."
    )


# Group name templates, as process-exporter's process_names: {{.Comm}}, {{.ExeBase}},
# {{.ExeFull}}, {{.Username}} and {{.Matches.NAME}} (a named group of a cmdline regex).
TEMPLATE_FIELD = re.compile(r"\{\{\s*\.(Comm|ExeBase|ExeFull|Username|Matches\.\w+)\s*\}\}")


@dataclass(frozen=True)
class ProcessName:
    name: str = key(
        "{{.Comm}}",
        "Group name template: {{.Comm}}, {{.ExeBase}}, {{.ExeFull}}, {{.Username}}, "
        "{{.Matches.NAME}} (a named group of a cmdline regex), as in process-exporter.",
    )
    comm: list[str] = key(
        factory=list, doc="Command names (/proc/PID/comm, at most 15 characters), exact."
    )
    exe: list[str] = key(
        factory=list,
        doc="Executables: a path matches the full path, a bare name the path's last part.",
    )
    cmdline: list[Regex] = key(
        factory=list,
        doc="Regular expressions the command line (arguments joined by spaces) must all match "
        "(unanchored, as in process-exporter).",
    )

    def __post_init__(self) -> None:
        if not self.comm and not self.exe and not self.cmdline:
            raise ValueError("a process_names entry needs comm, exe or cmdline")
        if not self.name.strip():
            raise ValueError("a process_names entry needs a name template")
        leftover = TEMPLATE_FIELD.sub("", self.name)
        if "{{" in leftover or "}}" in leftover:
            raise ValueError(
                f"name {self.name!r}: unknown template field (known: {{{{.Comm}}}}, "
                "{{.ExeBase}}, {{.ExeFull}}, {{.Username}}, {{.Matches.NAME}})"
            )
        names = {n for pattern in self.cmdline for n in re.compile(pattern).groupindex}
        for field in TEMPLATE_FIELD.findall(self.name):
            if field.startswith("Matches.") and field[8:] not in names:
                raise ValueError(f"name {self.name!r}: no cmdline group named {field[8:]!r}")


@dataclass(frozen=True)
class ProcessGroupsCollector:
    enabled: bool = key(True, "Run this collector (it runs only when process_names are given).")
    process_names: list[ProcessName] = key(
        factory=list,
        doc="Process groups in process-exporter's process_names form, e.g. [{name: nginx, "
        "comm: [nginx]}]: a process joins the group of the first entry it matches, and each "
        "group gets the namedprocess_namegroup_* series (docs/metrics.md).",
    )
    max_groups: int = key(
        100,
        "Most groups exported; processes of further groups (a template naming too many) are "
        "counted in namedprocess_groups_dropped, not exported.",
        minimum=1,
        maximum=10000,
    )


# Secret-looking arguments. Values end at whitespace, '&' (query strings) or a quote.
# The words that mark a secret, not one (S105).
_SECRET_WORD = (
    r"(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|key|credentials?)"  # noqa: S105
)
DEFAULT_REDACT = (
    Regex(rf"(?i){_SECRET_WORD}[\w.-]*\s*[=:]\s*(?P<secret>[^\s&'\"]+)"),
    Regex(rf"(?i)(?:^|\s)--?[\w.-]*{_SECRET_WORD}[\w.-]*\s+(?P<secret>[^\s-][^\s]*)"),
    Regex(r"(?i)authorization:?\s*(?:(?:bearer|basic|token)\s+)?(?P<secret>[^\s'\"]+)"),
    Regex(r"://[^/\s:@]+:(?P<secret>[^/\s@]+)@"),
)


@dataclass(frozen=True)
class ProcessesSection:
    enabled: bool = key(
        True,
        "Keep a view of the top processes (psutil): the context of CPU, memory, swap, I/O, fd, "
        "fork and file-system alerts, and `aiops-agent top`.",
    )
    interval: Duration = key(
        Duration(60.0),
        "How often the view is refreshed, at most once per collection. A pass reads every "
        "process (about 0.1 ms of CPU each), four times a 15s collection's cost on a host of "
        "250 processes: once a minute keeps the agent lean, and rates in the view are averages "
        "over the time between passes. Configured process groups refresh every collection.",
        minimum=0,
        maximum=3600,
    )
    top: int = key(
        5,
        "Processes kept per ranking (CPU, memory, I/O, writes, fds, forks, fd and process limits).",
        minimum=1,
        maximum=50,
    )
    cmdline_max_length: int = key(
        200, "Command lines are cut to this many characters.", minimum=16, maximum=4096
    )
    redact: list[Regex] = key(
        factory=lambda: list(DEFAULT_REDACT),
        doc="Regular expressions over the command line whose group `secret` (or whole match) "
        "is shown as *** in alerts, the API and `aiops-agent top`. The default covers "
        "--password=X, --token X, token=X, key=X, Authorization: X and user:pass@ in URLs; "
        "adding a pattern means listing the defaults too.",
    )


@dataclass(frozen=True)
class NetstatCollector:
    enabled: bool = key(True, "Run this collector.")
    fields: Regex = key(
        Regex(
            r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs"
            r"|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue"
            r"|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs"
            r"|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
        ),
        "Fields to publish, as <Protocol>_<Field> (node_exporter 1.9's default).",
    )


@dataclass(frozen=True)
class TextfileCollector:
    enabled: bool = key(True, "Run this collector.")
    directory: str = key(
        "",
        "Directory of *.prom files (Prometheus text format) to publish with the host's series, "
        "like node_exporter's --collector.textfile.directory. Empty: none, only "
        "node_textfile_scrape_error 0.",
    )


@dataclass(frozen=True)
class CollectorsSection:
    cpu: Toggle = key(
        factory=Toggle,
        doc="CPU time by mode and utilisation; context switches, interrupts, forks, runnable and "
        "blocked processes (/proc/stat).",
    )
    loadavg: Toggle = key(factory=Toggle, doc="Load averages (/proc/loadavg).")
    pressure: Toggle = key(
        factory=Toggle,
        doc="Pressure stall information: time tasks waited for CPU, I/O and memory "
        "(/proc/pressure; kernels without PSI publish nothing).",
    )
    meminfo: Toggle = key(factory=Toggle, doc="Memory and swap (/proc/meminfo, /proc/vmstat).")
    filesystem: FilesystemCollector = key(
        factory=FilesystemCollector, doc="Space and inodes per mount point."
    )
    diskstats: DiskstatsCollector = key(factory=DiskstatsCollector, doc="Disk I/O per device.")
    netdev: NetdevCollector = key(
        factory=NetdevCollector,
        doc="Network I/O, errors, drops per interface (/proc/net/dev). Its device filters apply "
        "to netclass and netstack too.",
    )
    netclass: Toggle = key(
        factory=Toggle,
        doc="Interface properties: link state, MTU, speed, carrier changes, addresses "
        "(/sys/class/net). Interfaces follow collectors.netdev's device_exclude and "
        "exclude_virtual.",
    )
    netstack: Toggle = key(
        factory=Toggle,
        doc="ARP entries, sockets in use, per-CPU packet processing (softnet) and the "
        "connection-tracking table. ARP entries follow collectors.netdev's device_exclude.",
    )
    processes: Toggle = key(factory=Toggle, doc="Process and thread counts by state.")
    filefd: Toggle = key(factory=Toggle, doc="Allocated and maximum file descriptors.")
    time: Toggle = key(factory=Toggle, doc="Wall-clock time, boot time and uptime.")
    uname: Toggle = key(factory=Toggle, doc="Kernel and host identity (node_uname_info).")
    hwmon: Toggle = key(
        factory=Toggle,
        doc="Hardware sensors (temperatures, fans, voltages, power), where present.",
    )
    netstat: NetstatCollector = key(
        factory=NetstatCollector,
        doc="TCP, UDP, ICMP and IP protocol counters (/proc/net/netstat, snmp, snmp6).",
    )
    timex: Toggle = key(
        factory=Toggle, doc="Clock synchronisation state and error from adjtimex(2), read-only."
    )
    entropy: Toggle = key(factory=Toggle, doc="The kernel's entropy pool.")
    udp_queues: Toggle = key(
        factory=Toggle,
        doc="Bytes queued in UDP sockets (/proc/net/udp{,6}; cost grows with the sockets).",
    )
    textfile: TextfileCollector = key(
        factory=TextfileCollector,
        doc="Metrics from *.prom files written by other programs (cron jobs, scripts).",
    )
    process_groups: ProcessGroupsCollector = key(
        factory=ProcessGroupsCollector,
        doc="Named groups of processes exported under process-exporter's names "
        "(namedprocess_namegroup_*), so its dashboards and rules work.",
    )


@dataclass(frozen=True)
class Config:
    agent: AgentSection = key(factory=AgentSection, doc="The agent itself.")
    http: HttpSection = key(factory=HttpSection, doc="The HTTP endpoints.")
    log: LogSection = key(factory=LogSection, doc="Logging to stderr.")
    metrics: MetricsSection = key(factory=MetricsSection, doc="Naming of exposed series.")
    collectors: CollectorsSection = key(
        factory=CollectorsSection, doc="Collectors, each switchable."
    )
    processes: ProcessesSection = key(
        factory=ProcessesSection, doc="The top-processes view (alert context, aiops-agent top)."
    )
    detection: DetectionSection = key(factory=DetectionSection, doc="Rules and learned baselines.")
    alerting: AlertingSection = key(factory=AlertingSection, doc="Alert lifecycle and silences.")
    receivers: dict[str, Receiver] = key(factory=dict, doc="Where alerts go, by name.")
    routes: list[Route] = key(factory=list, doc="Which alerts go to which receivers; else log.")
    outbox: OutboxSection = key(factory=OutboxSection, doc="Durable, retried delivery.")
    grouping: GroupingSection = key(
        factory=GroupingSection, doc="Notification grouping defaults; routes may override them."
    )
