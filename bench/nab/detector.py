"""nabkit adapter for the agent's BaselineDetector.

    python nabkit.py run bench/nab/detector.py:Detector --jobs 2

Parameters passed with ``-p key=value`` go straight to BaselineDetector.
"""

from __future__ import annotations

import os
import sys

_AGENT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "agent")
sys.path.insert(0, os.path.normpath(_AGENT_DIR))

from aiops_agent.detection.baseline import BaselineDetector  # noqa: E402


class Detector:
    """One instance per series, as nabkit expects."""

    __slots__ = ("_det",)

    def __init__(self, **params: float) -> None:
        warmup = int(params.pop("warmup", 150))
        self._det = BaselineDetector(warmup, **params)  # type: ignore[arg-type]

    def update(self, timestamp: float, value: float) -> float:
        return self._det.update(timestamp, value)
