"""Anomaly scores of the selected series: which series get a learned baseline (a
PatternDetector each, detection/pattern.py), a cap on how many, and their scores exported as
aiops_agent_anomaly_score{series="<metric name>", <series labels>}, which rules can then read
like any other series. A counter's per-second rate is learned, not its ever-growing raw value.

Time: the detectors step once per collection (stride 1), as they were scored on NAB's
5-minute data, so every duration they learned with is counted in samples: warm-up
(detection.baselines.warmup), a pattern window of 24 samples, a holdoff of 150. Stepping
every 5 minutes instead (PatternDetector.for_interval) would keep NAB's durations but delay
the first score by 12.5 hours and every detection by up to 5 minutes; docs/alerting.md has
the measurements behind the choice.

Episodes: the detector scores the onset of an anomaly, not its duration (on NAB it then keeps
quiet for a while; here it runs without that holdoff, and the alert lifecycle de-duplicates), so
a rule on its raw score could not ask for the anomaly to last. Beside each detector the scorer
keeps the series' typical range: the extremes it has taken recently (an envelope that forgets
an extreme over about four warm-ups). A score of at least ALERT_LEVEL while the value is
outside that range (by half the range's width, and by at least a quarter of its larger bound)
opens an episode: the exported score then stays at the episode's highest score while the value
stays outside the range as it was at the onset, for at most EPISODE_LIMIT samples, and drops
back to the detector's own score as soon as the value returns. So `for` on the score is "the
detector was surprised and the series has stayed out of its usual range this long", and
details() gives the rule's annotations the range, the value and the onset time.

Practical significance: a series with a natural scale (a ratio of a whole, load per CPU) can be
surprising without mattering: load per CPU at 0.22 after hours within 0.02-0.11, memory in use
at 6.2 % against 5.6 %. While such a series is less than SIGNIFICANT_CHANGE of its scale beyond
the range it had when the detector's score rose, its exported score is held at QUIET_SCORE at
most, below the alert level. Byte rates have no natural scale (a busy host's normal is another
host's flood) and keep the detector's score as it is.

What the detectors learned (and the typical ranges) can be saved to the state directory and
restored at start, so a restart does not cost a new warm-up. The file is versioned: one of
another version (an older agent's) or that cannot be read is set aside with a log line and
the baselines learn afresh; a file older than MAX_SAVED_AGE is ignored."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from aiops_agent.base.matchers import Matcher, Selector, labels_match
from aiops_agent.base.model import Labels, MetricFamily, Sample, gauge
from aiops_agent.base.naming import host_series_name
from aiops_agent.base.statefile import read_records, write_atomically
from aiops_agent.base.timefmt import format_time
from aiops_agent.config.alerting_schema import ANOMALY_SCORE, BaselineSettings
from aiops_agent.detection.pattern import PatternDetector
from aiops_agent.detection.rates import RateTracker

log = logging.getLogger("aiops_agent.alerting")

FILE_NAME = "baselines.json"
FILE_VERSION = 2  # 1: BaselineDetector's fields (before PatternDetector)
MAX_SAVED_AGE = 24 * 3600.0
STALE_AFTER = 3600.0  # a series not seen this long (a removed disk) frees its slot
ALERT_LEVEL = 0.3  # the detector's alert level: a score this high opens an episode
EPISODE_LIMIT = 150  # samples (the detector's holdoff); a longer one is the new normal
RANGE_MARGIN = 0.5  # share of the typical range's width a value must leave it by (see _outside)
LEVEL_MARGIN = 0.25  # and share of its larger bound
FORGET_WARMUPS = 4.0  # the typical range forgets an extreme over about this many warm-ups
# A series on a natural scale of 1 (a ratio of a whole, load per CPU) must leave its typical
# range by this much before its score can reach the alert level (see the module docstring).
SIGNIFICANT_CHANGE = 0.2
QUIET_SCORE = ALERT_LEVEL / 2
NATURAL_SCALE_SUFFIXES = ("_ratio", "_per_cpu")

SeriesKey = tuple[str, Labels]


class _Selector:
    def __init__(self, selector: Selector, compat_names: bool) -> None:
        self.name = host_series_name(selector.name, compat_names) if selector.name else ""
        self.name_matchers = [m for m in selector.matchers if m.name == "__name__"]
        self.label_matchers: list[Matcher] = [m for m in selector.matchers if m.name != "__name__"]

    def families(
        self, index: Mapping[str, MetricFamily], families: Iterable[MetricFamily]
    ) -> list[MetricFamily]:
        if self.name:
            family = index.get(self.name)
            found = [family] if family is not None else []
        else:
            found = list(families)
        return [f for f in found if all(m.matches(f.name) for m in self.name_matchers)]


class SeriesBaseline:
    """One series: its detector, its typical range and the open episode, if any."""

    __slots__ = ("_decay", "detector", "episode", "floor", "high", "low", "streak", "value")

    def __init__(
        self, warmup: int, detector: Optional[PatternDetector] = None, floor: float = 0.0
    ) -> None:
        self.detector = detector or PatternDetector(warmup, holdoff=0)
        self.floor = floor  # the smallest departure from the range that matters; 0: any
        self._decay = 1.0 / (FORGET_WARMUPS * max(1, warmup))
        self.low = self.high = math.nan  # the typical range; NaN until the first sample
        self.value = math.nan  # the latest value scored
        # (onset time, highest score, low, high, samples) while the value is out of range
        self.episode: Optional[tuple[float, float, float, float, int]] = None
        # (since, low, high) while the exported score stays at ALERT_LEVEL or above: what an
        # alert on it says when no episode is open (a steady ramp that keeps setting records)
        self.streak: Optional[tuple[float, float, float]] = None

    def update(self, timestamp: float, value: float) -> float:
        """Score one sample (see the module docstring); returns the exported score."""
        low, high = self.low, self.high
        score = self._score(timestamp, value)
        if score < ALERT_LEVEL:
            self.streak = None
            return score
        if self.streak is None:
            self.streak = (timestamp, low, high)
        if self.floor and not self._significant(value):
            return min(score, QUIET_SCORE)
        return score

    def _significant(self, value: float) -> bool:
        """Whether value is at least `floor` beyond the typical range as it was when the score
        rose (a ramp moves the range with it; its start is what the change is measured from)."""
        assert self.streak is not None
        _, low, high = self.streak
        if math.isnan(low):
            return True
        return value >= high + self.floor or value <= low - self.floor

    def _score(self, timestamp: float, value: float) -> float:
        score = self.detector.update(timestamp, value)
        if not math.isfinite(value):
            return score
        self.value = value
        episode = self.episode
        if episode is not None:
            since, top, low, high, samples = episode
            if samples < EPISODE_LIMIT and _outside(value, low, high):
                top = max(top, score)
                self.episode = (since, top, low, high, samples + 1)
                return top
            self.episode = None
        elif score >= ALERT_LEVEL and self.detector.ready and _outside(value, self.low, self.high):
            self.episode = (timestamp, score, self.low, self.high, 1)
            return score
        self._learn_range(value)
        return score

    def _learn_range(self, value: float) -> None:
        if math.isnan(self.low):
            self.low = self.high = value
            return
        shrink = self._decay * (self.high - self.low)
        self.high = max(value, self.high - shrink)
        self.low = min(value, self.low + shrink)

    def details(self, unit: str = "") -> dict[str, str]:
        """Annotation fields: the typical range as it was at the onset (of the episode, else of
        the score's stretch at ALERT_LEVEL or above; the current range otherwise), the latest
        value and the onset time ("" when the score is low); `unit` follows each number
        ("/s" for a counter's rate)."""
        if self.episode is not None:
            since, _, low, high, _ = self.episode
        elif self.streak is not None:
            since, low, high = self.streak
        else:
            since, low, high = math.nan, self.low, self.high
        return {
            "typical_low": _number(low) + unit,
            "typical_high": _number(high) + unit,
            "series_value": _number(self.value) + unit,
            "since": format_time(since) if math.isfinite(since) else "",
        }

    def to_state(self) -> dict[str, Any]:
        return {"detector": self.detector.to_state(), "range": [self.low, self.high]}

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], warmup: int, floor: float = 0.0
    ) -> SeriesBaseline:
        """Raises ValueError (or KeyError, TypeError) for a state it cannot use."""
        detector = PatternDetector.from_state(state["detector"], warmup, holdoff=0)
        baseline = cls(warmup, detector, floor)
        low, high = (float(v) for v in state["range"])
        if not (math.isnan(low) and math.isnan(high)) and not low <= high:
            raise ValueError(f"typical range {low}..{high} is not a range")
        baseline.low, baseline.high = low, high
        return baseline


def _outside(value: float, low: float, high: float) -> bool:
    """Whether value is out of the typical range low..high by a margin: half the range's width,
    and at least a quarter of the larger bound's size, so that a series with a narrow range (a
    steady memory ratio of 5 %) needs a change that matters (to 7 %), not a wiggle."""
    if math.isnan(low):
        return False
    margin = max(RANGE_MARGIN * (high - low), LEVEL_MARGIN * max(abs(high), abs(low)))
    return value > high + margin or value < low - margin


def significant_change(name: str) -> float:
    """The smallest departure from its typical range that matters for the series `name`: a
    share of its natural scale, or 0 for a series without one (byte rates, counts)."""
    return SIGNIFICANT_CHANGE if name.endswith(NATURAL_SCALE_SUFFIXES) else 0.0


def _number(value: float) -> str:
    return f"{value:.4g}"


class AnomalyScorer:
    def __init__(
        self,
        settings: BaselineSettings,
        compat_names: bool,
        rates: RateTracker,
        state_dir: Optional[str] = None,
    ) -> None:
        self._rates = rates
        self._series: dict[SeriesKey, SeriesBaseline] = {}
        self._last_seen: dict[SeriesKey, float] = {}
        # annotation fields of each exported score, by the score's labels
        self._details: dict[Labels, dict[str, str]] = {}
        self.refused = 0  # series in the latest snapshot left without a baseline by the cap
        self._refusal_logged = 0.0
        self.path = os.path.join(state_dir, FILE_NAME) if state_dir else None
        self.configure(settings, compat_names)
        if settings.persist:
            self._load()

    def configure(self, settings: BaselineSettings, compat_names: bool) -> None:
        self.settings = settings
        self._selectors = [_Selector(selector, compat_names) for selector in settings.series]

    def __len__(self) -> int:
        return len(self._series)

    def details(self, labels: Labels) -> Mapping[str, str]:
        """Annotation fields of the score with these labels (typical_low, typical_high,
        series_value, since); empty for other labels."""
        return self._details.get(labels, {})

    def update(
        self,
        index: Mapping[str, MetricFamily],
        families: Iterable[MetricFamily],
        timestamp: float,
    ) -> MetricFamily:
        """Feed every selected series' latest sample to its detector; return the scores of the
        detectors past their warm-up."""
        scores: list[Sample] = []
        details: dict[Labels, dict[str, str]] = {}
        done: set[SeriesKey] = set()
        refused = 0
        family_list = list(families)
        for selector in self._selectors:
            for family in selector.families(index, family_list):
                if family.name == ANOMALY_SCORE:
                    continue  # never baseline the scores themselves
                is_counter = family.kind == "counter" or family.name.endswith("_total")
                for sample in family.samples:
                    key = (family.name, sample.labels)
                    if key in done or not labels_match(
                        selector.label_matchers, dict(sample.labels)
                    ):
                        continue
                    done.add(key)
                    baseline = self._baseline(key)
                    if baseline is None:
                        refused += 1
                        continue
                    value = (
                        self._rates.rate(key, timestamp, sample.value)
                        if is_counter
                        else sample.value
                    )
                    self._last_seen[key] = timestamp
                    if value is None:
                        continue
                    score = baseline.update(timestamp, value)
                    if baseline.detector.ready:
                        labels = (
                            ("series", family.name),
                            *(p for p in sample.labels if p[0] != "series"),
                        )
                        scores.append(Sample(labels, score))
                        details[labels] = baseline.details("/s" if is_counter else "")
        self._details = details
        self._forget(timestamp - STALE_AFTER)
        self._note_refused(refused)
        return gauge(
            ANOMALY_SCORE,
            "Anomaly score in [0, 1] of the series named by the series label against its learned "
            "baseline; held at its onset value while the series stays outside its typical range "
            "(see docs/alerting.md); absent during the warm-up.",
            scores,
        )

    def _baseline(self, key: SeriesKey) -> Optional[SeriesBaseline]:
        baseline = self._series.get(key)
        if baseline is None and len(self._series) < self.settings.max_series:
            floor = significant_change(key[0])
            baseline = self._series[key] = SeriesBaseline(self.settings.warmup, floor=floor)
        return baseline

    def _forget(self, cutoff: float) -> None:
        for key in [key for key, seen in self._last_seen.items() if seen < cutoff]:
            del self._last_seen[key]
            self._series.pop(key, None)

    def _note_refused(self, refused: int) -> None:
        self.refused = refused
        now = time.monotonic()
        if refused and now - self._refusal_logged > STALE_AFTER:
            self._refusal_logged = now
            log.warning(
                "more series selected for baselines than detection.baselines.max_series; "
                "the rest get no anomaly score",
                extra={"max_series": self.settings.max_series, "refused": refused},
            )

    def metrics(self) -> list[MetricFamily]:
        return [
            gauge(
                "aiops_agent_baseline_series",
                "Series with a learned baseline.",
                [Sample((), float(len(self._series)))],
            ),
            gauge(
                "aiops_agent_baseline_series_refused",
                "Series selected for a baseline in the latest collection but over "
                "detection.baselines.max_series.",
                [Sample((), float(self.refused))],
            ),
        ]

    # --- persistence -----------------------------------------------------------------------
    def save(self) -> None:
        if self.path is None or not self.settings.persist:
            return
        records = [
            {"name": name, "labels": [list(pair) for pair in labels], "state": baseline.to_state()}
            for (name, labels), baseline in self._series.items()
        ]
        body = json.dumps({"version": FILE_VERSION, "saved_at": time.time(), "series": records})
        try:
            write_atomically(self.path, body.encode())
        except (OSError, AttributeError) as error:
            log.warning("cannot save baselines", extra={"path": self.path, "error": str(error)})

    def _load(self) -> None:
        if self.path is None:
            return
        saved_at = _saved_at(self.path)
        if saved_at is not None and time.time() - saved_at > MAX_SAVED_AGE:
            log.info("saved baselines are too old; learning afresh", extra={"path": self.path})
            return
        # A file of another version (an older agent's) or unreadable is set aside and logged.
        records = read_records(self.path, FILE_VERSION, "series")
        if records is None:
            return
        try:
            for record in records[: self.settings.max_series]:
                labels: Labels = tuple((str(n), str(v)) for n, v in record["labels"])
                key = (str(record["name"]), labels)
                self._series[key] = SeriesBaseline.from_state(
                    record["state"], self.settings.warmup, significant_change(key[0])
                )
                self._last_seen[key] = time.time()
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            self._series.clear()
            self._last_seen.clear()
            log.warning(
                "cannot restore saved baselines; learning afresh",
                extra={"path": self.path, "error": f"{type(error).__name__}: {error}"},
            )


def _saved_at(path: str) -> Optional[float]:
    """The file's saved_at, or None if it cannot be read (read_records then reports it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return float(json.load(handle)["saved_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
