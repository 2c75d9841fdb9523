"""Forecast of when a series reaches a level, from two fits, each of which a single burst of
writes or a deleted file cannot sway:

- the long fit, the model of Prometheus' predict_linear fitted with Theil-Sen (the median of
  pairwise slopes) over a window of hours. Its rate is the lower of the slopes of the window's
  older and recent halves: a trend must show in both, so one step (a big file written once) that
  tilts one half reads as flat, and slow fills are caught as before;
- the short fit, for fills that reach the limit within hours: the slowest rate between
  consecutive buckets of the last few minutes. Every bucket must have grown; one step grows one
  or two of them, so it cannot make this rate high. Its forecast counts only up to a horizon
  (the critical level), where a fast fill has to be reported within a few samples.

Memory per series is bounded: each window is cut into a fixed number of buckets and each bucket
keeps only the mean time and value of its samples. The long fit (O(points^2)) runs when one of
its buckets closes, not on every sample."""

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


class _Buckets:
    """The means (time, value) of the last `points` closed buckets of `width` seconds."""

    __slots__ = ("_bucket", "_count", "_sum_t", "_sum_v", "_width", "means")

    def __init__(self, width: float, points: int) -> None:
        self._width = width
        self.means: deque[tuple[float, float]] = deque(maxlen=points)
        self._bucket: Optional[int] = None
        self._sum_t = self._sum_v = 0.0
        self._count = 0

    def add(self, t: float, value: float) -> bool:
        """Add a sample; True if it closed a bucket."""
        bucket = int(t // self._width)
        closed = self._bucket is not None and bucket != self._bucket and self._count > 0
        if closed:
            self.means.append((self._sum_t / self._count, self._sum_v / self._count))
            self._sum_t = self._sum_v = 0.0
            self._count = 0
        self._bucket = bucket
        self._sum_t += t
        self._sum_v += value
        self._count += 1
        return closed


class TrendWindow:
    """Bucketed history of one series (a long and a short window) and the long window's fit."""

    __slots__ = ("_fit", "_horizon", "_last", "_long", "_origin", "_short", "_short_rates")

    def __init__(
        self,
        window: float,
        points: int,
        short_window: float = 0.0,
        short_points: int = 4,
        short_horizon: float = 0.0,
    ) -> None:
        self._long = _Buckets(window / points, points)
        # No short fit without a horizon for it to count in.
        self._short = (
            _Buckets(short_window / short_points, short_points)
            if short_window > 0 and short_horizon > 0
            else None
        )
        self._horizon = short_horizon
        # The long fit: the slopes of the older and recent halves, and the recent half's line
        # (time, level) at its last bucket. Which slope counts depends on the limit's side.
        self._fit: Optional[tuple[float, float, float, float]] = None
        # The short fit: the lowest and highest rate between its buckets, set as one closes.
        self._short_rates: Optional[tuple[float, float]] = None
        self._last = 0.0
        # Times are kept relative to the first sample: differences of unix times near 1.7e9
        # squared would lose precision in the intercept.
        self._origin: Optional[float] = None

    def add(self, timestamp: float, value: float) -> None:
        if self._origin is None:
            self._origin = timestamp
        t = timestamp - self._origin
        self._last = value
        if self._short is not None and self._short.add(t, value):
            self._short_rates = _rate_range(self._short.means)
        if self._long.add(t, value):
            self._refit()

    def _refit(self) -> None:
        points = list(self._long.means)
        # A quarter of the window must be covered before a trend is trusted.
        if len(points) < max(4, (self._long.means.maxlen or 4) // 4):
            self._fit = None
            return
        half = len(points) // 2
        older, recent = theil_sen(points[:half]), theil_sen(points[half:])
        if older is None or recent is None:
            self._fit = None
            return
        t_last = points[-1][0]
        self._fit = older[0], recent[0], t_last, recent[1] + recent[0] * t_last

    def hours_until(self, timestamp: float, limit: float) -> Optional[float]:
        """Hours until the series reaches limit: the long fit's forecast, or the short fit's
        when that is within its horizon and sooner. 0 if the fitted line is there now,
        NEVER_HOURS if it is flat or heading away (a value already past the limit also reads as
        heading away: the plain threshold rules cover "full"); None while there is too little
        history for either."""
        if self._origin is None:
            return None
        # Of two rates, the slower toward the limit counts: the lower one when the limit lies
        # above (a disk filling), the higher one when below (free space draining).
        slower = min if limit >= self._last else max
        long = None
        if self._fit is not None:
            older, recent, t_last, level = self._fit
            slope = slower(older, recent)  # a trend must show in both halves
            long = _hours(level + slope * (timestamp - self._origin - t_last), slope, limit)
        if self._short_rates is not None:
            short = _hours(self._last, slower(self._short_rates), limit)
            if short <= self._horizon:
                return short if long is None else min(short, long)
        return long


def _rate_range(means: deque[tuple[float, float]]) -> Optional[tuple[float, float]]:
    """The lowest and highest rate between consecutive buckets, once all of them are filled:
    every bucket must have moved for the slower rate to be far from zero, so one step or burst
    cannot make it."""
    if len(means) < (means.maxlen or 0):
        return None
    rates = [(v2 - v1) / (t2 - t1) for (t1, v1), (t2, v2) in zip(means, list(means)[1:])]
    return min(rates), max(rates)


def _hours(value: float, slope: float, limit: float) -> float:
    gap = limit - value
    if gap == 0:
        return 0.0
    if slope == 0 or (gap > 0) != (slope > 0):
        return NEVER_HOURS
    return min(gap / slope / 3600.0, NEVER_HOURS)
