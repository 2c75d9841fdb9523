"""nabkit adapters for the agent's detectors (the real modules, not copies).

    python nabkit.py run bench/nab/detector.py:Detector --jobs 2 -p offset=1
    python nabkit.py run bench/nab/detector.py:Baseline --jobs 2

``Detector`` is ``PatternDetector`` with its shipped defaults; other ``-p key=value``
pairs go to it.  ``offset=k`` starts the detector k rows late (those rows score 0):
a perturbation of where the sliding buckets fall, used to report the spread of the
score since the detector itself has no randomness.
"""

from __future__ import annotations

import os
import sys

_AGENT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "agent")
sys.path.insert(0, os.path.normpath(_AGENT_DIR))

from aiops_agent.detection.baseline import BaselineDetector  # noqa: E402
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
