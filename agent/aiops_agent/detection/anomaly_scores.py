"""Anomaly scores of the selected series: which series get a learned baseline (a
BaselineDetector each, detection/baseline.py), a cap on how many, and their scores exported
as aiops_agent_anomaly_score{series="<metric name>", <series labels>}, which rules can then read
like any other series. A counter's per-second rate is learned, not its ever-growing raw value.

What the detectors learned can be saved to the state directory and restored at start, so a
restart does not cost a new warm-up. The saved state is the detector's learned fields only
(never its tunables, which come from the config); a file older than MAX_SAVED_AGE is ignored."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from typing import Optional

from aiops_agent.base.matchers import Matcher, Selector, labels_match
from aiops_agent.base.model import Labels, MetricFamily, Sample, gauge
from aiops_agent.base.naming import host_series_name
from aiops_agent.base.statefile import write_atomically
from aiops_agent.config.alerting_schema import ANOMALY_SCORE, BaselineSettings
from aiops_agent.detection.baseline import BaselineDetector
from aiops_agent.detection.rates import RateTracker

log = logging.getLogger("aiops_agent.alerting")

FILE_NAME = "baselines.json"
MAX_SAVED_AGE = 24 * 3600.0
STALE_AFTER = 3600.0  # a series not seen this long (a removed disk) frees its slot
# The detector's learned fields; everything else in its __slots__ is a tunable.
_LEARNED = ("_n", "_mean", "_var", "_lo", "_hi", "_cusum_hi", "_cusum_lo", "_peak", "_peak_age")

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


class AnomalyScorer:
    def __init__(
        self,
        settings: BaselineSettings,
        compat_names: bool,
        rates: RateTracker,
        state_dir: Optional[str] = None,
    ) -> None:
        self._rates = rates
        self._detectors: dict[SeriesKey, BaselineDetector] = {}
        self._last_seen: dict[SeriesKey, float] = {}
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
        return len(self._detectors)

    def update(
        self,
        index: Mapping[str, MetricFamily],
        families: Iterable[MetricFamily],
        timestamp: float,
    ) -> MetricFamily:
        """Feed every selected series' latest sample to its detector; return the scores of the
        detectors past their warm-up."""
        scores: list[Sample] = []
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
                    detector = self._detector(key)
                    if detector is None:
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
                    score = detector.update(timestamp, value)
                    if detector.ready:
                        labels = (
                            ("series", family.name),
                            *(p for p in sample.labels if p[0] != "series"),
                        )
                        scores.append(Sample(labels, score))
        self._forget(timestamp - STALE_AFTER)
        self._note_refused(refused)
        return gauge(
            ANOMALY_SCORE,
            "Anomaly score in [0, 1] of the series named by the series label, against its learned "
            "baseline; absent during the warm-up.",
            scores,
        )

    def _detector(self, key: SeriesKey) -> Optional[BaselineDetector]:
        detector = self._detectors.get(key)
        if detector is None and len(self._detectors) < self.settings.max_series:
            detector = self._detectors[key] = BaselineDetector(warmup=self.settings.warmup)
        return detector

    def _forget(self, cutoff: float) -> None:
        for key in [key for key, seen in self._last_seen.items() if seen < cutoff]:
            del self._last_seen[key]
            self._detectors.pop(key, None)

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
                [Sample((), float(len(self._detectors)))],
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
            {
                "name": name,
                "labels": [list(pair) for pair in labels],
                "state": {field: getattr(detector, field) for field in _LEARNED},
            }
            for (name, labels), detector in self._detectors.items()
        ]
        body = json.dumps({"version": 1, "saved_at": time.time(), "series": records})
        try:
            write_atomically(self.path, body.encode())
        except (OSError, AttributeError) as error:
            log.warning("cannot save baselines", extra={"path": self.path, "error": str(error)})

    def _load(self) -> None:
        if self.path is None or not os.path.exists(self.path):
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            if time.time() - float(data["saved_at"]) > MAX_SAVED_AGE:
                log.info("saved baselines are too old; learning afresh")
                return
            for record in data["series"][: self.settings.max_series]:
                labels: Labels = tuple((str(n), str(v)) for n, v in record["labels"])
                detector = BaselineDetector(warmup=self.settings.warmup)
                for field in _LEARNED:
                    value = record["state"][field]
                    setattr(
                        detector,
                        field,
                        int(value) if field in ("_n", "_peak_age") else float(value),
                    )
                key = (str(record["name"]), labels)
                self._detectors[key] = detector
                self._last_seen[key] = time.time()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            self._detectors.clear()
            self._last_seen.clear()
            log.warning(
                "cannot restore saved baselines; learning afresh",
                extra={"path": self.path, "error": f"{type(error).__name__}: {error}"},
            )
