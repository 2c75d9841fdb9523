"""Threshold rules: which series a rule reads, the value it compares (raw, per-second rate, or
hours until a forecast limit), and its levels with hysteresis. The alert lifecycle (pending,
firing, resolved) lives in lifecycle.py; this module only answers "is this level breached?"."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple, Optional

from aiops_agent.base.events import RESOLVED_PREFIX
from aiops_agent.base.matchers import Matcher, labels_match
from aiops_agent.base.model import Labels, MetricFamily
from aiops_agent.base.naming import host_series_name
from aiops_agent.config.alerting_schema import ForecastSettings, RuleSettings, metric_names
from aiops_agent.detection.forecast import TrendWindow
from aiops_agent.detection.rates import RateTracker

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")


class Level(NamedTuple):
    severity: str  # "warning" | "critical"
    threshold: float
    clear: float  # an active alert of this level clears once the value is back past this


class Rule:
    """A RuleSettings made ready for evaluation: names translated, levels fixed."""

    def __init__(self, settings: RuleSettings, compat_names: bool = True) -> None:
        self.settings = settings
        self.name = settings.name
        self.names = [host_series_name(n, compat_names) for n in metric_names(settings.metric)]
        self.matchers: tuple[Matcher, ...] = tuple(settings.matchers)
        self.rate = settings.rate
        self.above = settings.direction == "above"
        self.for_seconds = float(settings.for_)
        self.forecast: Optional[ForecastSettings] = settings.forecast
        margin = settings.hysteresis if self.above else -settings.hysteresis
        self.levels: list[Level] = []
        for severity, threshold, clear in (
            ("warning", settings.warning, settings.warning_clear),
            ("critical", settings.critical, settings.critical_clear),
        ):
            if threshold is not None:
                self.levels.append(
                    Level(severity, threshold, threshold - margin if clear is None else clear)
                )

    def breached(self, level: Level, value: float, active: bool) -> bool:
        """Whether the level holds. An active level (pending or firing) holds until the value is
        back past its clear level, not merely its threshold: that gap is the hysteresis."""
        limit = level.clear if active else level.threshold
        return value > limit if self.above else value < limit

    def annotations(
        self,
        labels: Mapping[str, str],
        value: float,
        level: Level,
        resolved: bool = False,
        details: Optional[Mapping[str, str]] = None,
    ) -> dict[str, str]:
        """summary and description, rendered with `value`; resolved=True words them for the
        resolve: resolved_summary, else the summary marked resolved; resolved_description, else
        a generated one (a firing description cannot be reworded, and would state the opposite
        of what happened). `details` adds placeholders that the series' producer knows, such as
        an anomaly score's typical range (detection/anomaly_scores.py)."""
        fields = {
            **(details or {}),
            "value": _number(value),
            "value_percent": f"{value * 100:.1f}%",
            "threshold": _number(level.threshold),
            "clear": _number(level.clear),
            "severity": level.severity,
            "alertname": self.name,
            "host": labels.get("host", ""),
            "metric": " + ".join(self.names),
        }
        settings = self.settings
        summary = _render(settings.summary or "{alertname} on {host}: {value}", fields, labels)
        if not resolved:
            description = settings.description or self._default_description()
            return {"summary": summary, "description": _render(description, fields, labels)}
        if settings.resolved_summary:
            summary = _render(settings.resolved_summary, fields, labels)
        else:
            summary = RESOLVED_PREFIX + summary
        description = settings.resolved_description or self._default_resolved_description()
        return {"summary": summary, "description": _render(description, fields, labels)}

    def _default_description(self) -> str:
        side = "above" if self.above else "below"
        if self.forecast is not None:
            fit = _forecast_words(self.forecast)
            return (
                f"{fit} reaches {self.forecast.limit:g} in {{value}} hours, "
                f"{side} the {{severity}} threshold of {{threshold}} hours (clears at {{clear}})."
            )
        measured = "The per-second rate of {metric}" if self.rate else "{metric}"
        held = f" for at least {self.for_seconds:g}s" if self.for_seconds else ""
        return (
            f"{measured} is {{value}}, {side} the {{severity}} threshold {{threshold}}{held} "
            "(clears at {clear})."
        )

    def _default_resolved_description(self) -> str:
        back = "below" if self.above else "above"
        if self.forecast is not None:
            fit = _forecast_words(self.forecast)
            return (
                f"{fit} reaches {self.forecast.limit:g} in {{value}} hours, "
                f"back {back} the {{severity}} threshold of {{threshold}} hours (cleared at "
                "{clear})."
            )
        measured = "The per-second rate of {metric}" if self.rate else "{metric}"
        return (
            f"{measured} is {{value}}, back {back} the {{severity}} threshold {{threshold}} "
            "(cleared at {clear})."
        )


class RuleEvaluator:
    """Turns a snapshot into the value each rule compares, per series label set. Holds the state
    that needs history: counter rates (shared) and forecast windows (per rule and series)."""

    def __init__(self, rates: RateTracker) -> None:
        self._rates = rates
        self._trends: dict[tuple[str, Labels], tuple[TrendWindow, float]] = {}

    def values(
        self, rule: Rule, index: Mapping[str, MetricFamily], timestamp: float
    ) -> dict[Labels, float]:
        summed: dict[Labels, float] = {}
        for name in rule.names:
            family = index.get(name)
            if family is None:
                continue
            for sample in family.samples:
                if rule.matchers and not labels_match(rule.matchers, dict(sample.labels)):
                    continue
                value: Optional[float] = sample.value
                if rule.rate:
                    value = self._rates.rate((name, sample.labels), timestamp, sample.value)
                if value is None or not math.isfinite(value):
                    continue
                # Summing is lenient (a label set present under one name only still counts),
                # unlike PromQL's "+", so a missing transmit counter does not hide receive errors.
                summed[sample.labels] = summed.get(sample.labels, 0.0) + value
        if rule.forecast is None:
            return summed
        return self._forecast(rule, rule.forecast, summed, timestamp)

    def _forecast(
        self,
        rule: Rule,
        forecast: ForecastSettings,
        values: dict[Labels, float],
        timestamp: float,
    ) -> dict[Labels, float]:
        hours: dict[Labels, float] = {}
        for labels, value in values.items():
            key = (rule.name, labels)
            entry = self._trends.get(key)
            window = entry[0] if entry else _trend_window(forecast)
            window.add(timestamp, value)
            self._trends[key] = (window, timestamp)
            predicted = window.hours_until(timestamp, forecast.limit)
            if predicted is not None:
                hours[labels] = predicted
        return hours

    def forget_older_than(self, cutoff: float, rule_names: set[str]) -> None:
        """Drop forecast windows of series gone since cutoff, or of rules no longer configured."""
        for key in [
            key
            for key, (_, seen) in self._trends.items()
            if seen < cutoff or key[0] not in rule_names
        ]:
            del self._trends[key]


def _forecast_words(forecast: ForecastSettings) -> str:
    words = f"A robust linear fit of {{metric}} over the last {forecast.window:g}s"
    if forecast.short_window > 0 and forecast.short_horizon > 0:
        words += (
            f" (the last {forecast.short_window:g}s for a fill due within "
            f"{forecast.short_horizon:g} hours)"
        )
    return words


def _trend_window(forecast: ForecastSettings) -> TrendWindow:
    return TrendWindow(
        forecast.window,
        forecast.points,
        forecast.short_window,
        forecast.short_points,
        forecast.short_horizon,
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def _render(template: str, fields: Mapping[str, str], labels: Mapping[str, str]) -> str:
    """Replace {name} and {labels.X}; anything else is left as written. Deliberately not
    str.format, which would let a template reach attributes of the values."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("labels."):
            return labels.get(name[len("labels.") :], "")
        return fields.get(name, match.group(0))

    return _PLACEHOLDER.sub(replace, template)
