"""Threshold rules over hand-made series: levels, hysteresis, `for`, rates of counters (with
resets), sums of several names, matchers, and node_* name translation."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops_agent.alerting.lifecycle import FIRING, PENDING, Lifecycle
from aiops_agent.base.matchers import parse_matcher, parse_selector
from aiops_agent.base.model import Labels, MetricFamily, Sample, counter, gauge
from aiops_agent.base.naming import host_series_name
from aiops_agent.config import ConfigError, load_config
from aiops_agent.config.alerting_schema import DEFAULT_RULES, DetectionSection, RuleSettings
from aiops_agent.config.types import Duration
from aiops_agent.detection.rates import RateTracker
from aiops_agent.detection.rules import Rule, RuleEvaluator


def rule(**overrides: object) -> Rule:
    settings = {"name": "HighValue", "metric": "m", "warning": 10.0}
    settings.update(overrides)
    return Rule(RuleSettings(**settings))  # type: ignore[arg-type]


def index(*families: MetricFamily) -> dict[str, MetricFamily]:
    return {family.name: family for family in families}


def states(lifecycle: Lifecycle) -> dict[tuple[str, str], str]:
    return {(a.rule_name, a.severity): a.state for a in lifecycle.alerts()}


def run_series(r: Rule, values: list[float], step: float = 1.0) -> list[dict[tuple[str, str], str]]:
    """Feed one unlabelled series to a rule; the alert states after each sample."""
    lifecycle = Lifecycle("host", "host:9877", 3600.0, 300.0, 100)
    evaluator = RuleEvaluator(RateTracker())
    history = []
    for i, value in enumerate(values):
        now = 1000.0 + i * step
        family = gauge("m", "", [Sample((), value)])
        lifecycle.evaluate(r, evaluator.values(r, index(family), now), now)
        lifecycle.finish(now, [r.name])
        history.append(states(lifecycle))
    return history


def test_level_breach_without_for_fires_at_once_and_resolves_below() -> None:
    history = run_series(rule(), [5, 11, 12, 9])
    assert history == [
        {},
        {("HighValue", "warning"): FIRING},
        {("HighValue", "warning"): FIRING},
        {},
    ]


def test_for_keeps_an_alert_pending_until_the_level_held_that_long() -> None:
    history = run_series(rule(for_=Duration(3.0)), [11, 11, 11, 11, 11], step=1.0)
    got = [h.get(("HighValue", "warning")) for h in history]
    assert got == [PENDING, PENDING, PENDING, FIRING, FIRING]


def test_a_pending_alert_whose_condition_breaks_goes_back_to_inactive() -> None:
    history = run_series(rule(for_=Duration(3.0)), [11, 11, 5, 11, 11, 11, 11])
    got = [h.get(("HighValue", "warning")) for h in history]
    # the interruption restarts the `for` clock
    assert got == [PENDING, PENDING, None, PENDING, PENDING, PENDING, FIRING]


def test_hysteresis_stops_flapping_at_the_threshold() -> None:
    hovering = [11, 9.5, 10.5, 9.8, 10.2, 8.9]
    without = run_series(rule(), hovering)
    with_margin = run_series(rule(hysteresis=1.0), hovering)
    key = ("HighValue", "warning")
    assert [h.get(key) for h in without] == [FIRING, None, FIRING, None, FIRING, None]
    # stays firing until the value is back below 10 - 1 = 9
    assert [h.get(key) for h in with_margin] == [FIRING, FIRING, FIRING, FIRING, FIRING, None]


def test_explicit_clear_level_wins_over_hysteresis() -> None:
    history = run_series(rule(hysteresis=5.0, warning_clear=9.5), [11, 9.6, 9.4])
    assert [h.get(("HighValue", "warning")) for h in history] == [FIRING, FIRING, None]


def test_below_direction_and_its_clear_level() -> None:
    r = rule(direction="below", warning=5.0, critical=2.0, hysteresis=1.0)
    history = run_series(r, [6, 4, 1, 2.5, 3.5, 5.5, 6.5])
    warning = [h.get(("HighValue", "warning")) for h in history]
    critical = [h.get(("HighValue", "critical")) for h in history]
    assert warning == [None, FIRING, FIRING, FIRING, FIRING, FIRING, None]
    assert critical == [None, None, FIRING, FIRING, None, None, None]


def test_counter_rate_handles_a_reset() -> None:
    rates = RateTracker()
    key = ("c", ())
    assert rates.rate(key, 0.0, 100.0) is None  # first sample: no rate yet
    assert rates.rate(key, 10.0, 150.0) == pytest.approx(5.0)
    assert rates.rate(key, 10.0, 150.0) == pytest.approx(5.0)  # second reader, same snapshot
    # reset: the counter restarted from 0 and counted 20 since, so 20 over 10 s, not negative
    assert rates.rate(key, 20.0, 20.0) == pytest.approx(2.0)
    assert rates.rate(key, 30.0, 50.0) == pytest.approx(3.0)


def test_rate_rule_sums_several_counters_per_label_set() -> None:
    r = Rule(
        RuleSettings(
            name="Errs",
            metric="rx_errs_total + tx_errs_total",
            rate=True,
            warning=1.0,
            matchers=[parse_matcher('device!~"lo|veth.*"')],
        )
    )
    evaluator = RuleEvaluator(RateTracker())

    def snapshot(rx: float, tx: float) -> dict[str, MetricFamily]:
        devices: list[Labels] = [(("device", "eth0"),), (("device", "veth1"),)]
        return index(
            counter("rx_errs_total", "", [Sample(d, rx) for d in devices]),
            counter("tx_errs_total", "", [Sample(d, tx) for d in devices]),
        )

    assert evaluator.values(r, snapshot(0, 0), 0.0) == {}
    assert evaluator.values(r, snapshot(10, 20), 10.0) == {
        (("device", "eth0"),): pytest.approx(3.0)
    }


def test_matchers_select_series() -> None:
    r = rule(matchers=[parse_matcher('mountpoint!~"/boot.*"'), parse_matcher('fstype="ext4"')])
    family = gauge(
        "m",
        "",
        [
            Sample((("fstype", "ext4"), ("mountpoint", "/")), 1.0),
            Sample((("fstype", "ext4"), ("mountpoint", "/boot/efi")), 2.0),
            Sample((("fstype", "xfs"), ("mountpoint", "/data")), 3.0),
        ],
    )
    values = RuleEvaluator(RateTracker()).values(r, index(family), 0.0)
    assert values == {(("fstype", "ext4"), ("mountpoint", "/")): 1.0}


def test_node_names_are_translated_when_compat_names_are_off() -> None:
    assert host_series_name("node_vmstat_pswpin", True) == "node_vmstat_pswpin"
    assert host_series_name("node_memory_MemTotal_bytes", False) == (
        "aiops_host_memory_mem_total_bytes"
    )
    assert host_series_name("aiops_agent_load1_per_cpu", False) == "aiops_agent_load1_per_cpu"
    swap = next(s for s in DEFAULT_RULES if s.name == "HostSwapActivity")
    assert Rule(swap, compat_names=False).names == [
        "aiops_host_vmstat_pswpin",
        "aiops_host_vmstat_pswpout",
    ]


def test_annotations_fill_placeholders_but_not_attributes() -> None:
    r = rule(summary="{labels.mountpoint} at {value_percent} ({value.__class__}) on {host}")
    text = r.annotations({"mountpoint": "/", "host": "h1"}, 0.5, r.levels[0])["summary"]
    assert text == "/ at 50.0% ({value.__class__}) on h1"
    assert "threshold 10" in r.annotations({}, 12.0, r.levels[0])["description"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"warning": None}, "set warning, critical or both"),
        ({"critical": 5.0}, "critical must be above"),
        ({"warning_clear": 11.0}, "clear level"),
        ({"metric": " + "}, "metric is empty"),
    ],
)
def test_invalid_rules_are_refused(overrides: dict[str, object], message: str) -> None:
    settings = {"name": "R", "metric": "m", "warning": 10.0}
    settings.update(overrides)
    with pytest.raises(ValueError, match=message):
        RuleSettings(**settings)  # type: ignore[arg-type]


def test_the_config_holds_matchers_parsed_and_reports_a_bad_one_at_its_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    rule_text = "    - {name: R, metric: m, warning: 1, matchers: [%s]}\n"
    path.write_text("detection:\n  rules:\n" + rule_text % "'fstype=\"ext4\"'")
    (settings,) = load_config(str(path), {}, required=True).detection.rules
    assert settings.matchers == [parse_matcher('fstype="ext4"')]
    path.write_text("detection:\n  rules:\n" + rule_text % "'not a matcher'")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {}, required=True)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: detection.rules.0.matchers.0: 'not a matcher' is not a matcher (examples: "
        'device="eth0", mountpoint!~"/boot.*")'
    ]


def test_default_rules_can_be_tuned_and_switched_off() -> None:
    from aiops_agent.config.alerting_schema import RuleOverride

    detection = DetectionSection(
        default_rules={
            "HostCpuSaturation": RuleOverride(enabled=False),
            "HostFilesystemSpace": RuleOverride(warning=0.7),
            "HostAnomalousSeries": RuleOverride(enabled=True),
        }
    )
    rules = {r.name: r for r in detection.effective_rules()}
    assert "HostCpuSaturation" not in rules
    assert rules["HostFilesystemSpace"].warning == 0.7
    assert rules["HostFilesystemSpace"].critical == 0.95
    assert "HostAnomalousSeries" in rules
    assert "HostAnomalousSeries" in {r.name for r in DetectionSection().effective_rules()}
    with pytest.raises(ValueError, match="no built-in rule"):
        DetectionSection(default_rules={"NoSuchRule": RuleOverride()})
    with pytest.raises(ValueError, match="critical must be above"):
        DetectionSection(default_rules={"HostFilesystemSpace": RuleOverride(warning=0.99)})


def test_a_forecast_rules_window_can_be_tuned_but_only_on_a_forecast_rule(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "detection:\n  default_rules:\n    HostFilesystemFillingUp:\n"
        "      forecast: {window: 24m}\n"
    )
    rules = {
        r.name: r for r in load_config(str(path), {}, required=True).detection.effective_rules()
    }
    forecast = rules["HostFilesystemFillingUp"].forecast
    assert forecast is not None
    assert (forecast.window, forecast.points, forecast.limit) == (1440.0, 32, 1.0)
    inodes = rules["HostFilesystemInodesFillingUp"].forecast
    assert inodes is not None and inodes.window == 6 * 3600.0  # the other rule keeps its own
    path.write_text(
        "detection:\n  default_rules:\n    HostFilesystemSpace:\n      forecast: {window: 1h}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {}, required=True)
    (problem,) = caught.value.problems
    assert "HostFilesystemSpace.forecast: HostFilesystemSpace is not a forecast rule" in str(
        problem
    )
    assert str(path) in str(problem)


def test_matcher_and_selector_syntax() -> None:
    assert parse_matcher('device=~"sd.*"').matches("sda")
    assert not parse_matcher('device=~"sd.*"').matches("nvme0n1-sda")  # anchored
    assert parse_matcher("device!=lo").matches("eth0")
    text = 'node_disk_read_bytes_total{device!~"dm-.*", x="a,b"}'
    selector = parse_selector(text)
    assert (selector.name, str(selector)) == ("node_disk_read_bytes_total", text)
    assert [str(m) for m in selector.matchers] == ['device!~"dm-.*"', 'x="a,b"']
    with pytest.raises(ValueError):
        parse_selector("{}")
