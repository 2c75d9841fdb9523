"""Timestamps as the silence API and config write them: RFC 3339 ("2024-05-01T10:00:00Z", as in
Alertmanager) or unix seconds."""

from __future__ import annotations

import math
import re
import time
from typing import NamedTuple, Optional, Union

# fromisoformat() before Python 3.11 takes neither "Z" nor other than 3 or 6 fraction digits, both
# of which RFC 3339 (and Go's time.Time, which Alertmanager clients send) allow.
_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Union[str, float, int]) -> float:
    """Unix seconds from an RFC 3339 string or a number; raises ValueError for a user."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a time, got {type(value).__name__}")
    seconds = _parse(value) if isinstance(value, str) else float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite time")
    return seconds


class Timestamp(NamedTuple):
    """A time as the config writes it (text) and its unix seconds; empty text means not set."""

    text: str
    seconds: Optional[float]

    def __str__(self) -> str:
        return self.text


UNSET = Timestamp("", None)


def parse_timestamp(text: str) -> Timestamp:
    """A config time: RFC 3339, unix seconds, or "" (not set). Raises ValueError for a user."""
    return Timestamp(text, parse_time(text)) if text else UNSET


def _parse(text: str) -> float:
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    stripped = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), stripped, count=1)
    from datetime import datetime  # noqa: PLC0415 - only silences parse times; spare the rest

    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"{text!r} is not a time (example: 2024-05-01T10:00:00Z)")
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (append Z for UTC)")
    return parsed.timestamp()


def format_time(seconds: float) -> str:
    whole = math.floor(seconds)
    milliseconds = min(round((seconds - whole) * 1000), 999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{milliseconds:03d}Z"
