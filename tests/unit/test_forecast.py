"""The disk-full forecast: Theil-Sen fit, bounded memory, robustness to outliers and one-off steps,
a fast fill paged within a few samples, and the forecast rule firing before the disk fills."""

from __future__ import annotations

import dataclasses
import random

import pytest

from aiops_agent.alerting.lifecycle import Lifecycle
from aiops_agent.base.model import Sample, gauge
from aiops_agent.config.alerting_schema import DEFAULT_RULES, ForecastSettings, RuleSettings
from aiops_agent.config.types import Duration
from aiops_agent.detection.forecast import NEVER_HOURS, TrendWindow, theil_sen
from aiops_agent.detection.rates import RateTracker
from aiops_agent.detection.rules import Rule, RuleEvaluator

HOUR = 3600.0


def test_theil_sen_ignores_outliers_that_swing_least_squares() -> None:
    points = [(float(t), 2.0 * t + 1.0) for t in range(20)]
    points[5] = (5.0, 500.0)  # a burst
    points[12] = (12.0, -300.0)  # a deleted file
    fit = theil_sen(points)
    assert fit is not None
    slope, intercept = fit
    assert slope == pytest.approx(2.0)
    assert intercept == pytest.approx(1.0)
    assert theil_sen([(1.0, 1.0), (1.0, 2.0)]) is None


def test_window_memory_is_bounded_by_points() -> None:
    window = TrendWindow(window=HOUR, points=8, short_window=120.0, short_points=4, short_horizon=4)
    for i in range(10_000):
        window.add(i * 15.0, i * 0.001)
    assert len(window._long.means) == 8
    assert window._short is not None and len(window._short.means) == 4


def test_hours_until_full_for_a_steadily_filling_disk() -> None:
    window = TrendWindow(window=6 * HOUR, points=32)
    rng = random.Random(3)
    # 50% used, growing 1% per hour, with noise and occasional spikes: full in about 50 hours
    t = 0.0
    while t <= 6 * HOUR:
        noise = rng.gauss(0, 0.002) + (0.05 if rng.random() < 0.02 else 0.0)
        window.add(t, 0.5 + 0.01 * t / HOUR + noise)
        t += 60.0
    hours = window.hours_until(t, 1.0)
    assert hours is not None
    assert 40 < hours < 50
    assert window.hours_until(t, 0.0) == NEVER_HOURS  # moving away from that limit


def test_no_forecast_until_a_quarter_of_the_window_is_covered() -> None:
    window = TrendWindow(window=4 * HOUR, points=16)
    for i in range(30):  # 30 minutes < a quarter of 4 hours
        window.add(i * 60.0, 0.5 + i * 0.01)
    assert window.hours_until(30 * 60.0, 1.0) is None


def test_flat_series_never_fills() -> None:
    window = TrendWindow(window=HOUR, points=8)
    for i in range(200):
        window.add(i * 30.0, 0.7)
    assert window.hours_until(200 * 30.0, 1.0) == NEVER_HOURS


def test_forecast_rule_fires_before_the_disk_is_full() -> None:
    settings = RuleSettings(
        name="FillingUp",
        metric="used",
        direction="below",
        warning=24.0,
        critical=4.0,
        for_=Duration(0.0),
        forecast=ForecastSettings(window=Duration(2 * HOUR), points=16),
    )
    rule = Rule(settings)
    evaluator = RuleEvaluator(RateTracker())
    lifecycle = Lifecycle("h", "h:1", 1e9, 1e9, 100)
    fired: dict[str, float] = {}
    used, t = 0.2, 0.0
    while used < 1.0:
        family = gauge("used", "", [Sample((("mountpoint", "/"),), used)])
        lifecycle.evaluate(rule, evaluator.values(rule, {"used": family}, t), t)
        for event in lifecycle.finish(t, [rule.name]):
            fired.setdefault(event.labels["severity"], used)
        used += 0.05 / HOUR * 60  # 5 points per hour: full 16 hours after start
        t += 60.0
    assert "warning" in fired and "critical" in fired
    assert fired["warning"] < fired["critical"] < 1.0
    # the critical (< 4 hours) fired with at least 3 hours to go: 15% of the disk left
    assert fired["critical"] <= 0.85


def test_default_forecast_rule_is_hours_until_the_used_ratio_reaches_one() -> None:
    rule = next(r for r in DEFAULT_RULES if r.name == "HostFilesystemFillingUp")
    assert rule.forecast is not None and rule.forecast.limit == 1.0
    assert rule.direction == "below" and rule.warning == 24.0 and rule.critical == 4.0


SAMPLE = 15.0  # the agent's default interval


def default_forecast_rule() -> Rule:
    return Rule(next(r for r in DEFAULT_RULES if r.name == "HostFilesystemFillingUp"))


def replay(rule: Rule, values: list[float]) -> list[tuple[int, str]]:
    """Feed one series through the rule and the alert lifecycle, a sample every SAMPLE seconds;
    (sample index, severity) of each firing notification."""
    evaluator = RuleEvaluator(RateTracker())
    lifecycle = Lifecycle("h", "h:1", 1e9, 1e9, 100)
    fired = []
    for i, used in enumerate(values):
        t = i * SAMPLE
        family = gauge("used", "", [Sample((("mountpoint", "/"),), used)])
        index = {rule.names[0]: family}
        lifecycle.evaluate(rule, evaluator.values(rule, index, t), t)
        for event in lifecycle.finish(t, [rule.name]):
            if event.status == "firing":
                fired.append((i, event.labels["severity"]))
    return fired


def flat(hours: float, level: float, seed: int) -> list[float]:
    """A quiet file system: a level with small jitter (temporary files coming and going)."""
    rng = random.Random(seed)
    return [level + rng.gauss(0, 0.0005) for _ in range(int(hours * HOUR / SAMPLE))]


def test_a_steady_fill_after_a_long_flat_history_pages_within_a_few_samples() -> None:
    """30% used for 8 hours, then filling at 35% an hour (full in 2 hours): the default rule
    forecasts it (critical, under 4 hours) within 16 samples (4 minutes at 15 s), where a 6-hour
    window would take hours to notice it."""
    history = flat(8, 0.3, seed=1)
    start = len(history)
    fill = [0.3 + 0.35 * (i + 1) * SAMPLE / HOUR for i in range(int(2 * HOUR / SAMPLE))]
    fired = replay(default_forecast_rule(), history + fill)
    assert fired, "the fill was never forecast"
    assert fired[0][0] >= start, "fired on the flat history"
    critical = [i for i, s in fired if s == "critical"]
    assert critical and critical[0] - start <= 16, f"critical after {critical[0] - start} samples"


@pytest.mark.parametrize(
    ("name", "step", "samples"),
    [
        ("a big file written once", 0.3, 1),
        ("a package cache update over a minute", 0.05, 4),
        ("a deleted log file", -0.3, 1),
    ],
)
def test_a_one_off_step_does_not_page(name: str, step: float, samples: int) -> None:
    """A step (up or down), spread over a few samples, then flat again, whatever the level
    reached: no forecast stays under a level long enough to fire, in the 12 hours after it."""
    before = flat(8, 0.6 if step < 0 else 0.3, seed=2)
    level = before[-1]
    ramp = [level + step * (i + 1) / samples for i in range(samples)]
    after = [v + step for v in flat(12, level, seed=3)]
    assert replay(default_forecast_rule(), before + ramp + after) == [], name


def free_space_forecast_rule() -> Rule:
    """The default rule turned over: the free ratio forecast to reach 0, as a user may write it
    for node_filesystem_avail_bytes."""
    default = next(r for r in DEFAULT_RULES if r.name == "HostFilesystemFillingUp")
    assert default.forecast is not None
    return Rule(
        dataclasses.replace(default, forecast=dataclasses.replace(default.forecast, limit=0.0))
    )


def test_a_falling_series_counts_its_slower_drain_toward_a_lower_limit() -> None:
    """Free space draining to 0 is the fill seen from the other side: a steady drain pages as
    fast, and a one-off drop (a big file written once) does not page, as for the used ratio. The
    slower rate toward a limit below is the higher one; taking the lower would page on the drop."""
    history = [1 - v for v in flat(8, 0.3, seed=1)]
    drain = [0.7 - 0.35 * (i + 1) * SAMPLE / HOUR for i in range(int(2 * HOUR / SAMPLE))]
    fired = replay(free_space_forecast_rule(), history + drain)
    critical = [i for i, s in fired if s == "critical"]
    assert critical and 0 <= critical[0] - len(history) <= 16, fired[:3]

    before = [1 - v for v in flat(8, 0.3, seed=2)]
    after = [v - 0.3 for v in flat(12, before[-1], seed=3)]
    assert replay(free_space_forecast_rule(), [*before, before[-1] - 0.3, *after]) == []
