"""Prometheus text exposition format 0.0.4: formatting only, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable

from aiops_agent.base.model import MetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render(families: Iterable[MetricFamily]) -> str:
    """Families with no samples are left out: a HELP/TYPE without samples tells a scraper nothing.
    Callers pass each name once; merging is their job, not the formatter's."""
    lines: list[str] = []
    append = lines.append
    for family in families:
        if not family.samples:
            continue
        append(f"# HELP {family.name} {_escape_help(family.help)}")
        append(f"# TYPE {family.name} {family.kind}")
        for labels, value, suffix in family.samples:
            name = family.name + suffix
            if labels:
                label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                append(f"{name}{{{label_text}}} {format_value(value)}")
            else:
                append(f"{name} {format_value(value)}")
    lines.append("")
    return "\n".join(lines)
