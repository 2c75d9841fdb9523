"""Per-second rates of counters between consecutive samples, for rules with `rate: true` and for
baselines of counters. One instance is shared by all users within a plugin, so a series read by a
rule and a baseline is differenced once per snapshot."""

from __future__ import annotations

from typing import Optional

from aiops_agent.base.model import Labels

SeriesKey = tuple[str, Labels]


class _Point:
    __slots__ = ("rate", "timestamp", "value")

    def __init__(self, timestamp: float, value: float) -> None:
        self.timestamp = timestamp
        self.value = value
        self.rate: Optional[float] = None


class RateTracker:
    def __init__(self) -> None:
        self._last: dict[SeriesKey, _Point] = {}

    def __len__(self) -> int:
        return len(self._last)

    def rate(self, key: SeriesKey, timestamp: float, value: float) -> Optional[float]:
        """The rate since this series' previous sample; None for its first sample or when time
        did not advance. A decrease is a counter reset (a reboot, a driver reload): as in
        Prometheus, the counter is taken to have restarted from zero, so the rate is value/dt
        rather than a negative number."""
        point = self._last.get(key)
        if point is None:
            self._last[key] = _Point(timestamp, value)
            return None
        if timestamp == point.timestamp:
            return point.rate  # a second reader in the same snapshot
        elapsed = timestamp - point.timestamp
        if elapsed < 0:
            point.timestamp, point.value, point.rate = timestamp, value, None  # clock stepped back
            return None
        increase = value - point.value if value >= point.value else value
        point.timestamp, point.value, point.rate = timestamp, value, increase / elapsed
        return point.rate

    def forget_older_than(self, cutoff: float) -> None:
        """Drop series not seen since cutoff (a removed disk or interface), bounding memory."""
        stale = [key for key, point in self._last.items() if point.timestamp < cutoff]
        for key in stale:
            del self._last[key]
