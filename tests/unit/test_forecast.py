"""The disk-full forecast: Theil-Sen fit, bounded memory, robustness to outliers, and the
forecast rule firing before the disk fills."""

from __future__ import annotations

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
    window = TrendWindow(window=HOUR, points=8)
    for i in range(10_000):
        window.add(i * 15.0, i * 0.001)
    assert len(window._points) == 8


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
