"""Forecast of when a series reaches a level, from a robust linear fit over a window: the model of
Prometheus' predict_linear, but fitted with Theil-Sen (the median of pairwise slopes), so one
burst of writes or a deleted log file does not swing the prediction the way least squares does.

Memory per series is bounded: the window is cut into `points` buckets and each bucket keeps only
the mean time and value of its samples. The fit (O(points^2)) runs when a bucket closes, not on
every sample."""

from __future__ import annotations

from collections import deque
from typing import Optional

NEVER_HOURS = 1e6  # reported when the series is flat or moving away from the limit


def theil_sen(points: list[tuple[float, float]]) -> Optional[tuple[float, float]]:
    """(slope, intercept at t=0) of the Theil-Sen line through (t, v) points; None with fewer
    than two distinct times."""
    slopes = [
        (v2 - v1) / (t2 - t1)
        for i, (t1, v1) in enumerate(points)
        for t2, v2 in points[i + 1 :]
        if t2 != t1
    ]
    if not slopes:
        return None
    slope = _median(slopes)
    intercept = _median([v - slope * t for t, v in points])
    return slope, intercept


def _median(values: list[float]) -> float:
    """statistics.median, without the ~1 MiB its imports (fractions, decimal, random) cost."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class TrendWindow:
    """Bucketed history of one series and its latest fit."""

    __slots__ = ("_bucket", "_count", "_fit", "_origin", "_points", "_sum_t", "_sum_v", "_width")

    def __init__(self, window: float, points: int) -> None:
        self._width = window / points
        self._points: deque[tuple[float, float]] = deque(maxlen=points)
        self._bucket: Optional[int] = None
        self._sum_t = self._sum_v = 0.0
        self._count = 0
        self._fit: Optional[tuple[float, float]] = None
        # Times are kept relative to the first sample: differences of unix times near 1.7e9
        # squared would lose precision in the intercept.
        self._origin: Optional[float] = None

    def add(self, timestamp: float, value: float) -> None:
        if self._origin is None:
            self._origin = timestamp
        t = timestamp - self._origin
        bucket = int(t // self._width)
        if self._bucket is not None and bucket != self._bucket and self._count:
            self._points.append((self._sum_t / self._count, self._sum_v / self._count))
            self._sum_t = self._sum_v = 0.0
            self._count = 0
            self._refit()
        self._bucket = bucket
        self._sum_t += t
        self._sum_v += value
        self._count += 1

    def _refit(self) -> None:
        # A quarter of the window must be covered before a trend is trusted.
        enough = max(3, (self._points.maxlen or 4) // 4)
        self._fit = theil_sen(list(self._points)) if len(self._points) >= enough else None

    def hours_until(self, timestamp: float, limit: float) -> Optional[float]:
        """Hours until the fitted line reaches limit: 0 if it is there now, NEVER_HOURS if it is
        flat or heading away (a value already past the limit also reads as heading away: the
        plain threshold rules cover "full"); None while there is too little history."""
        if self._fit is None or self._origin is None:
            return None
        slope, intercept = self._fit
        gap = limit - (intercept + slope * (timestamp - self._origin))
        if gap == 0:
            return 0.0
        if slope == 0 or (gap > 0) != (slope > 0):
            return NEVER_HOURS
        return min(gap / slope / 3600.0, NEVER_HOURS)
