"""nabkit adapters for the agent's detector (the real module, not a copy) and for the previous
one, ``BaselineDetector`` (kept here for the comparison row; the agent no longer ships it).

    python nabkit.py run bench/nab/detector.py:Detector --jobs 2 -p offset=1
    python nabkit.py run bench/nab/detector.py:Baseline --jobs 2
    python nabkit.py run bench/nab/detector.py:Agent --jobs 2

``Detector`` is ``PatternDetector`` with its shipped defaults; other ``-p key=value``
pairs go to it.  ``offset=k`` starts the detector k rows late (those rows score 0):
a perturbation of where the sliding buckets fall, used to report the spread of the
score since the detector itself has no randomness.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

_AGENT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "agent")
sys.path.insert(0, os.path.normpath(_AGENT_DIR))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # baseline_detector

from baseline_detector import BaselineDetector  # noqa: E402

from aiops_agent.config.alerting_schema import DEFAULT_RULES  # noqa: E402
from aiops_agent.detection.anomaly_scores import SeriesBaseline  # noqa: E402
from aiops_agent.detection.pattern import PatternDetector  # noqa: E402


class Detector:
    """One PatternDetector per series, as nabkit expects."""

    __slots__ = ("_det", "_skip")

    def __init__(self, **params: float) -> None:
        self._skip = int(params.pop("offset", 0))
        self._det = PatternDetector(**params)  # type: ignore[arg-type]

    def update(self, timestamp: float, value: float) -> float:
        if self._skip > 0:
            self._skip -= 1
            return 0.0
        return self._det.update(timestamp, value)


class Baseline:
    """The previous default, BaselineDetector, for the comparison row."""

    __slots__ = ("_det",)

    def __init__(self, **params: float) -> None:
        warmup = int(params.pop("warmup", 150))
        self._det = BaselineDetector(warmup, **params)  # type: ignore[arg-type]

    def update(self, timestamp: float, value: float) -> float:
        return self._det.update(timestamp, value)


class Agent:
    """The score the agent exports for a series (detection/anomaly_scores.py): its
    PatternDetector as the agent configures it (no holdoff) and the score held while the
    series stays outside its typical range. NAB's 5-minute rows are the agent's samples."""

    __slots__ = ("_baseline",)

    def __init__(self, **params: float) -> None:
        self._baseline = SeriesBaseline(int(params.pop("warmup", 150)))

    def update(self, timestamp: float, value: float) -> float:
        return self._baseline.update(timestamp, value)


class AgentAlert:
    """When the agent would notify: 1.0 at the row where HostAnomalousSeries, with its
    default level and `for`, starts firing for this series, else 0.0 (NAB's timestamps are
    the agent's collection times)."""

    __slots__ = ("_baseline", "_for", "_level", "_pending")

    def __init__(self, **params: float) -> None:
        (rule,) = [r for r in DEFAULT_RULES if r.name == "HostAnomalousSeries"]
        self._level = float(rule.warning or 0.0)
        self._for = float(params.pop("for_seconds", float(rule.for_)))
        self._baseline = SeriesBaseline(int(params.pop("warmup", 150)))
        self._pending: Optional[float] = None  # since when the score is above the level

    def update(self, timestamp: float, value: float) -> float:
        score = self._baseline.update(timestamp, value)
        if score <= self._level:
            self._pending = None
            return 0.0
        if self._pending is None:
            self._pending = timestamp
        elif self._pending < 0:  # already fired for this stretch
            return 0.0
        if timestamp - self._pending >= self._for:
            self._pending = -1.0
            return 1.0
        return 0.0
