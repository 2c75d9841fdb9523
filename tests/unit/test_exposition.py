from __future__ import annotations

import math

from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.exposition import format_value, render


def test_render_escapes_and_orders() -> None:
    text = render(
        [
            gauge("a_info", "help with \\ and\nnewline", [Sample((("path", 'C:\\x "q"\n'),), 1.0)]),
            counter("b_total", "counter", [Sample((), 2.5)]),
        ]
    )
    assert text == (
        "# HELP a_info help with \\\\ and\\nnewline\n"
        "# TYPE a_info gauge\n"
        'a_info{path="C:\\\\x \\"q\\"\\n"} 1\n'
        "# HELP b_total counter\n"
        "# TYPE b_total counter\n"
        "b_total 2.5\n"
    )


def test_empty_families_are_left_out() -> None:
    assert render([gauge("nothing", "no samples")]) == ""


def test_values() -> None:
    assert format_value(3.0) == "3"
    assert format_value(0.1) == "0.1"
    assert format_value(1e20) == "1e+20"
    assert format_value(math.nan) == "NaN"
    assert format_value(math.inf) == "+Inf" and format_value(-math.inf) == "-Inf"


def test_untyped_kind_is_written() -> None:
    assert "# TYPE x untyped" in render([MetricFamily("x", "untyped", "h", [Sample((), 1.0)])])


def test_histogram_series_carry_their_suffixes() -> None:
    family = MetricFamily(
        "latency_seconds",
        "histogram",
        "h",
        [
            Sample((("le", "0.1"),), 1.0, "_bucket"),
            Sample((("le", "+Inf"),), 2.0, "_bucket"),
            Sample((), 0.3, "_sum"),
            Sample((), 2.0, "_count"),
        ],
    )
    assert render([family]).splitlines()[1:] == [
        "# TYPE latency_seconds histogram",
        'latency_seconds_bucket{le="0.1"} 1',
        'latency_seconds_bucket{le="+Inf"} 2',
        "latency_seconds_sum 0.3",
        "latency_seconds_count 2",
    ]
