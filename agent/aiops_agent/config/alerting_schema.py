"""Schema of the `detection` (rules, baselines) and `alerting` (lifecycle, silences) sections, and
the built-in default rule set. Checks that span keys run in __post_init__, whose ValueError the
loader reports with the section's path."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from aiops_agent.base.matchers import Matcher, Selector, parse_selector
from aiops_agent.base.processes import RESOURCES
from aiops_agent.base.timefmt import UNSET, Timestamp
from aiops_agent.config.keys import key
from aiops_agent.config.types import Duration

DIRECTIONS = ("above", "below")
# What an alert's process context can name: a resource, "series" (an anomaly alert: the resource
# its series label measures) or "" (none).
CONTEXTS = ("", "series", *RESOURCES)

DEFAULT_BASELINE_SERIES = (
    "aiops_agent_cpu_utilization_ratio",
    "aiops_agent_memory_utilization_ratio",
    "aiops_agent_load1_per_cpu",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    # The host's allocated file handles: a leak in any process shows here, even in one whose fds
    # the agent may not count (another user's, without aiops_agent_read_all_processes).
    "node_filefd_allocated",
)


@dataclass(frozen=True)
class ForecastSettings:
    window: Duration = key(
        Duration(6 * 3600.0),
        "History the long fit uses (like predict_linear's range); its halves are fitted "
        "apart and the slower slope counts, so a trend must show in both.",
        minimum=60,
        maximum=30 * 86400,
    )
    limit: float = key(1.0, "Level whose crossing is forecast, e.g. 1.0 for a used ratio (full).")
    points: int = key(
        32,
        "Points kept per series: the window is downsampled to this many averaged buckets, which "
        "bounds memory and the O(points^2) Theil-Sen fit.",
        minimum=4,
        maximum=128,
    )
    short_window: Duration = key(
        Duration(120.0),
        "Recent history of the short fit, for fast fills: the slowest rate between its buckets "
        "(every one must have grown, so one burst of writes does not count).",
        minimum=1,
        maximum=86400,
    )
    short_points: int = key(
        4,
        "Buckets the short window is cut into (one more than the rates compared).",
        minimum=4,
        maximum=32,
    )
    short_horizon: float = key(
        4.0,
        "Hours up to which the short fit's forecast counts (a sooner one replaces the long "
        "fit's); 0: long fit only.",
        minimum=0,
    )


@dataclass(frozen=True)
class RuleSettings:
    name: str = key(doc="Rule name, used as the alertname label.")
    metric: str = key(
        doc="Series name, or names joined by '+' whose values (or rates) are summed per label "
        "set. Write host series as node_*; with metrics.node_exporter_names false they are "
        "translated to aiops_host_*."
    )
    matchers: list[Matcher] = key(
        factory=list, doc='Label matchers the series must pass, e.g. mountpoint!~"/boot.*".'
    )
    rate: bool = key(
        False, "Use the per-second rate between samples (for counters; resets are handled)."
    )
    direction: str = key(
        "above", "Whether the rule fires above or below its levels.", choices=DIRECTIONS
    )
    warning: Optional[float] = key(None, "Level for a warning alert; null: none.")
    critical: Optional[float] = key(None, "Level for a critical alert; null: none.")
    hysteresis: float = key(
        0.0,
        "Margin past a level by which the value must return before that level's alert clears, so "
        "a value hovering at the level does not flap.",
        minimum=0,
    )
    warning_clear: Optional[float] = key(
        None, "Level at which a warning clears; null: warning minus (or plus) hysteresis."
    )
    critical_clear: Optional[float] = key(
        None, "Level at which a critical alert clears; null: critical -/+ hysteresis."
    )
    for_: Duration = key(
        Duration(0.0),
        "How long a level must hold before the alert fires (pending until then), as in Prometheus.",
        minimum=0,
        maximum=7 * 86400,
    )
    forecast: Optional[ForecastSettings] = key(
        None,
        "Compare the hours until a robust linear fit reaches forecast.limit, instead of the "
        "value (use direction below: warning 24 means full within 24 hours).",
    )
    summary: str = key("", "Summary annotation; placeholders {value}, {threshold}, {labels.X}.")
    description: str = key("", "Description annotation; same placeholders. Empty: generated.")
    resolved_summary: str = key(
        "",
        "Summary of the resolved notification, rendered with the value at resolve time. Empty: "
        "'Resolved: ' and the summary.",
    )
    resolved_description: str = key(
        "",
        "Description of the resolved notification. Empty: generated ('... is 0.035, back below "
        "the warning threshold 0.06 (cleared at 0.05).').",
    )
    context: str = key(
        "",
        "Process context of a firing alert: the top processes (processes.top) for this "
        "resource go into its top_processes annotation and notifications: cpu, memory, swap, "
        "io, fds, forks, filesystem (the processes writing the most), fd_limit (nearest their "
        "own fd limit), process_limit (the processes of the user nearest its process limit), "
        "series (an anomaly alert: the resource its series measures) or empty for none.",
        choices=CONTEXTS,
    )
    enabled: bool = key(True, "Evaluate this rule.")

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise ValueError("a rule needs a name of at most 200 characters")
        names = metric_names(self.metric)
        if not names:
            raise ValueError(f"rule {self.name}: metric is empty")
        for name in names:
            parse_selector(name)  # validates the name
        if self.warning is None and self.critical is None:
            raise ValueError(f"rule {self.name}: set warning, critical or both")
        sign = 1.0 if self.direction == "above" else -1.0
        if (
            self.warning is not None
            and self.critical is not None
            and sign * (self.critical - self.warning) < 0
        ):
            raise ValueError(f"rule {self.name}: critical must be {self.direction} or at warning")
        for level, clear in (
            (self.warning, self.warning_clear),
            (self.critical, self.critical_clear),
        ):
            if level is not None and clear is not None and sign * (level - clear) < 0:
                raise ValueError(
                    f"rule {self.name}: a clear level must not be {self.direction} its level"
                )


def metric_names(metric: str) -> list[str]:
    return [part.strip() for part in metric.split("+") if part.strip()]


@dataclass(frozen=True)
class RuleOverride:
    """Tuning of one default rule; keys left out keep the default."""

    enabled: Optional[bool] = key(None, "false switches the rule off; true switches it on.")
    matchers: Optional[list[Matcher]] = key(None, "Replaces the default rule's matchers.")
    warning: Optional[float] = key(None, "Replaces the warning level.")
    critical: Optional[float] = key(None, "Replaces the critical level.")
    hysteresis: Optional[float] = key(None, "Replaces the hysteresis margin.", minimum=0)
    warning_clear: Optional[float] = key(None, "Replaces the warning clear level.")
    critical_clear: Optional[float] = key(None, "Replaces the critical clear level.")
    for_: Optional[Duration] = key(None, "Replaces the for duration.", minimum=0)
    context: Optional[str] = key(None, "Replaces the process context.", choices=CONTEXTS)
    forecast: Optional[ForecastSettings] = key(
        None,
        "Replaces the forecast settings of a forecast rule (keys left out take ForecastSettings' "
        "defaults), e.g. {window: 2h} for file systems that fill in hours.",
    )


@dataclass(frozen=True)
class BaselineSettings:
    enabled: bool = key(True, "Learn a baseline per selected series and export anomaly scores.")
    series: list[Selector] = key(
        factory=lambda: [parse_selector(text) for text in DEFAULT_BASELINE_SERIES],
        doc='Series selectors, e.g. node_network_receive_bytes_total{device=~"eth.*"}. A '
        "counter's per-second rate is baselined, not its raw value.",
    )
    max_series: int = key(
        200,
        "Most series with a baseline; further series are counted and logged, not learned.",
        minimum=1,
        maximum=10000,
    )
    warmup: int = key(
        150,
        "Samples a baseline learns before it scores (150 at a 15s interval: about 40 minutes).",
        minimum=1,
        maximum=1_000_000,
    )
    persist: bool = key(True, "Keep what baselines learned in the state directory across restarts.")


@dataclass(frozen=True)
class DetectionSection:
    enabled: bool = key(True, "Evaluate rules and baselines.")
    default_rules: dict[str, RuleOverride] = key(
        factory=dict,
        doc="Tuning of built-in rules by name, e.g. {HostCpuSaturation: {enabled: false}}.",
    )
    rules: list[RuleSettings] = key(
        factory=list, doc="Your own rules, evaluated beside the default ones."
    )
    baselines: BaselineSettings = key(
        factory=BaselineSettings, doc="Learned baselines (anomaly scores)."
    )

    def __post_init__(self) -> None:
        known = {rule.name for rule in DEFAULT_RULES}
        for name in self.default_rules:
            if name not in known:
                raise ValueError(
                    f"default_rules: no built-in rule {name!r} (known: {', '.join(sorted(known))})"
                )
        for default in DEFAULT_RULES:
            override = self.default_rules.get(default.name)
            if override is not None and override.forecast is not None and default.forecast is None:
                raise ValueError(
                    f"default_rules: {default.name}.forecast: {default.name} is not a forecast rule"
                )
        seen: set[str] = set()
        for rule in self.effective_rules():
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}")
            seen.add(rule.name)

    def effective_rules(self) -> list[RuleSettings]:
        """Default rules with their overrides applied, then the user's; disabled ones left out."""
        rules = []
        for default in DEFAULT_RULES:
            override = self.default_rules.get(default.name)
            rule = default if override is None else _apply(default, override)
            if rule.enabled:
                rules.append(rule)
        return rules + [rule for rule in self.rules if rule.enabled]


def _apply(rule: RuleSettings, override: RuleOverride) -> RuleSettings:
    changes = {
        field.name: getattr(override, field.name)
        for field in dataclasses.fields(override)
        if getattr(override, field.name) is not None
    }
    return dataclasses.replace(rule, **changes)  # re-runs the rule's own checks


@dataclass(frozen=True)
class SilenceSettings:
    matchers: list[Matcher] = key(
        doc='Matchers on alert labels, e.g. alertname="HostCpuSaturation".'
    )
    starts_at: Timestamp = key(UNSET, "RFC 3339 time the silence starts; empty: already started.")
    ends_at: Timestamp = key(UNSET, "RFC 3339 time the silence ends; empty: never.")
    created_by: str = key("config", "Who asked for it.")
    comment: str = key("", "Why.")

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError("a silence needs at least one matcher")
        if self.end <= self.start:
            raise ValueError("a silence must end after it starts")

    @property
    def start(self) -> float:
        """Unix seconds; 0 for already started."""
        return 0.0 if self.starts_at.seconds is None else self.starts_at.seconds

    @property
    def end(self) -> float:
        """Unix seconds; infinity for never."""
        return float("inf") if self.ends_at.seconds is None else self.ends_at.seconds


@dataclass(frozen=True)
class AlertingSection:
    enabled: bool = key(
        True,
        "Send notifications. false: alerts are still evaluated and shown on /metrics and "
        "/api/v1/alerts, but nobody is notified.",
    )
    repeat_interval: Duration = key(
        Duration(4 * 3600.0),
        "Re-notify an alert that is still firing after this long.",
        minimum=1,
        maximum=30 * 86400,
    )
    resolve_timeout: Duration = key(
        Duration(300.0),
        "An alert whose series is no longer collected resolves after this long.",
        minimum=1,
        maximum=86400,
    )
    max_alerts: int = key(
        1000, "Most alerts tracked at once; more are counted and logged.", minimum=1
    )
    silences: list[SilenceSettings] = key(
        factory=list, doc="Silences from configuration, beside those made through the API."
    )
    silence_api: bool = key(True, "Serve POST and DELETE /api/v1/silences (GET is always served).")
    max_silences: int = key(
        1000, "Most silences the API keeps; more are refused.", minimum=1, maximum=100000
    )


# Derived by the alerting plugin from node_filesystem_files{,_free} (see detection/derived.py).
INODES_USED_RATIO = "aiops_agent_filesystem_inodes_used_ratio"
# and from node_network_{receive,transmit}_bytes_total over node_network_speed_bytes
NETWORK_UTILIZATION_RATIO = "aiops_agent_network_utilization_ratio"
ANOMALY_SCORE = "aiops_agent_anomaly_score"

DEFAULT_RULES: tuple[RuleSettings, ...] = (
    RuleSettings(
        name="HostCpuSaturation",
        metric="aiops_agent_cpu_utilization_ratio",
        warning=0.9,
        critical=0.98,
        hysteresis=0.05,
        for_=Duration(600.0),
        context="cpu",
        summary="CPU busy {value_percent} of the time on {host}",
    ),
    RuleSettings(
        name="HostMemoryPressure",
        metric="aiops_agent_memory_utilization_ratio",
        warning=0.9,
        critical=0.97,
        hysteresis=0.03,
        for_=Duration(120.0),
        context="memory",
        summary="{value_percent} of memory in use on {host}",
    ),
    RuleSettings(
        name="HostSwapActivity",
        metric="node_vmstat_pswpin + node_vmstat_pswpout",
        rate=True,
        warning=100.0,
        critical=1000.0,
        hysteresis=20.0,
        # Two minutes of steady paging (every 15 s sample above 80 pages/s once one passed 100)
        # is a host short of memory, as Prometheus' usual major-fault rule (`for: 2m`) judges it;
        # 10 minutes made the fault benchmark's swap storm page 25 s after Prometheus did.
        for_=Duration(120.0),
        context="swap",
        summary="Swapping {value} pages/s on {host}",
    ),
    RuleSettings(
        name="HostFilesystemSpace",
        metric="aiops_agent_filesystem_used_ratio",
        warning=0.85,
        critical=0.95,
        hysteresis=0.02,
        for_=Duration(300.0),
        context="filesystem",
        summary="File system {labels.mountpoint} is {value_percent} full on {host}",
    ),
    RuleSettings(
        name="HostFilesystemInodes",
        metric=INODES_USED_RATIO,
        warning=0.85,
        critical=0.95,
        hysteresis=0.02,
        for_=Duration(300.0),
        context="filesystem",
        summary="File system {labels.mountpoint} has used {value_percent} of its inodes on {host}",
    ),
    RuleSettings(
        name="HostFilesystemFillingUp",
        metric="aiops_agent_filesystem_used_ratio",
        direction="below",
        warning=24.0,
        critical=4.0,
        hysteresis=6.0,
        for_=Duration(60.0),
        forecast=ForecastSettings(),
        context="filesystem",
        summary="File system {labels.mountpoint} on {host} will be full in {value} hours",
    ),
    RuleSettings(
        name="HostFilesystemInodesFillingUp",
        metric=INODES_USED_RATIO,
        direction="below",
        warning=24.0,
        critical=4.0,
        hysteresis=6.0,
        for_=Duration(60.0),
        forecast=ForecastSettings(),
        context="filesystem",
        summary="File system {labels.mountpoint} on {host} will run out of inodes in {value} hours",
    ),
    RuleSettings(
        name="HostDiskIoSaturation",
        metric="node_disk_io_time_seconds_total",
        rate=True,
        warning=0.8,
        hysteresis=0.1,
        for_=Duration(300.0),
        context="io",
        summary="Disk {labels.device} on {host} is busy {value_percent} of the time",
    ),
    RuleSettings(
        name="HostLoadPerCore",
        metric="aiops_agent_load1_per_cpu",
        warning=2.0,
        critical=4.0,
        hysteresis=0.25,
        for_=Duration(900.0),
        context="cpu",
        summary="Load {value} per CPU on {host}",
    ),
    RuleSettings(
        name="HostProcessFdLimit",
        metric="aiops_agent_process_fd_limit_used_ratio",
        # A process at its own fd limit fails now (EMFILE) while the host-wide count is low.
        warning=0.9,
        critical=0.98,
        hysteresis=0.05,
        for_=Duration(60.0),
        context="fd_limit",
        summary="A process on {host} uses {value_percent} of its open-file limit",
    ),
    RuleSettings(
        name="HostUserProcessLimit",
        metric="aiops_agent_user_process_limit_used_ratio",
        # A user at RLIMIT_NPROC cannot start processes or threads: a fork loop, a thread leak.
        warning=0.9,
        critical=0.98,
        hysteresis=0.05,
        for_=Duration(60.0),
        context="process_limit",
        summary="A user on {host} runs {value_percent} of its process limit",
    ),
    RuleSettings(
        name="HostNetworkErrors",
        metric="node_network_receive_errs_total + node_network_transmit_errs_total",
        rate=True,
        warning=1.0,
        hysteresis=0.5,
        for_=Duration(600.0),
        summary="Interface {labels.device} on {host}: {value} errors/s",
    ),
    RuleSettings(
        name="HostNetworkSaturation",
        metric=NETWORK_UTILIZATION_RATIO,
        # Per interface and direction, against the speed the link reports (interfaces without
        # one, such as virtio, report none and are not judged): 80 % of a link for minutes is
        # where queues build and latency grows.
        warning=0.8,
        hysteresis=0.1,
        for_=Duration(300.0),
        summary="Interface {labels.device} on {host}: {labels.direction} at {value_percent} of "
        "its link speed",
    ),
    RuleSettings(
        name="HostAnomalousSeries",
        metric=ANOMALY_SCORE,
        # The score is held at its onset value while the series stays outside its typical range
        # (detection/anomaly_scores.py), so `for` asks for the anomaly to last, not one sample.
        warning=0.3,
        # Two minutes: over 9 quiet host-hours of the fault benchmark at 2m (background jobs
        # that last 15 times longer in host time than they do) nothing fired and the longest
        # held score lasted 70 s (load per CPU after a job), while 5 minutes made the I/O
        # writer page 10 s after Prometheus' 50 MB/s rule did.
        for_=Duration(120.0),
        # On by default since the fault benchmark's quiet baseline gave no false notification
        # with the practical-significance floor (docs/alerting.md has the figures).
        context="series",
        summary="{labels.series} behaves unlike its learned baseline on {host}",
        description="{labels.series} is {series_value}, outside its typical range "
        "{typical_low} to {typical_high} since {since}; anomaly score {value}, the alert fires "
        "above {threshold}.",
    ),
)
