"""The value types every layer shares: collectors produce them; exposition and detection read
them."""

from __future__ import annotations

from typing import NamedTuple, Optional

from aiops_agent.base.processes import ProcessView

# Labels are an ordered tuple of (name, value) pairs: hashable, so a (metric, labels) pair can key
# per-series state in detection, and cheap to build in collectors.
Labels = tuple[tuple[str, str], ...]


class Sample(NamedTuple):
    labels: Labels
    value: float
    # Histograms and summaries write several series per family: "_bucket", "_sum", "_count".
    suffix: str = ""


class MetricFamily(NamedTuple):
    name: str
    kind: str  # "gauge", "counter", "untyped", "histogram" or "summary" (Prometheus text format)
    help: str
    samples: list[Sample]


class Snapshot(NamedTuple):
    """One collection cycle: what every collector returned, stamped with wall-clock time."""

    timestamp: float
    families: list[MetricFamily]
    processes: Optional[ProcessView] = None  # the top processes; None with processes.enabled off


def gauge(name: str, help_text: str, samples: list[Sample] | None = None) -> MetricFamily:
    return MetricFamily(name, "gauge", help_text, samples if samples is not None else [])


def counter(name: str, help_text: str, samples: list[Sample] | None = None) -> MetricFamily:
    return MetricFamily(name, "counter", help_text, samples if samples is not None else [])
