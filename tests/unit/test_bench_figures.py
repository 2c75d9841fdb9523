"""The README's and docs' benchmark figures (scripts/generators/bench_figures.py) come from the
benchmarks' committed results: a figure changed in a copy of results.json changes the rendered
table, and a results file lacking what a table needs is an error naming the file and the key."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from generators import bench_figures  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")
Edit = Callable[[dict[str, Any]], None]


def results_copy(tmp_path: Path, name: str, edit: Edit) -> Path:
    """A repository holding the committed results, with `edit` applied to those of `name`."""
    for results in (bench_figures.NAB_RESULTS, bench_figures.FAULT_RESULTS):
        target = tmp_path / results
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / results, target)
    path = tmp_path / name
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return tmp_path


def region(text: str, name: str) -> str:
    start = text.index(f"<!-- BEGIN generated: {name} ")
    return text[start : text.index(f"<!-- END generated: {name} -->", start)]


def row(text: str, first_cell: str) -> str:
    (found,) = [line for line in text.splitlines() if line.startswith(f"| {first_cell}")]
    return found


def test_the_committed_readme_shows_the_committed_results() -> None:
    assert bench_figures.readme(ROOT, README) == README


def test_a_fault_detection_time_comes_from_the_results(tmp_path: Path) -> None:
    def slower_cpu(doc: dict[str, Any]) -> None:
        doc["result"]["faults"]["cpu"]["agent"]["detection_s"] = 93.6

    root = results_copy(tmp_path, bench_figures.FAULT_RESULTS, slower_cpu)
    table = region(bench_figures.readme(root, README), "fault table")
    assert "94 s, HostAnomalousSeries (aiops_agent_load1_per_cpu)" in row(table, "CPU saturation")
    assert table != region(README, "fault table")


def test_a_missed_fault_reads_missed(tmp_path: Path) -> None:
    def prometheus_misses_memory(doc: dict[str, Any]) -> None:
        doc["result"]["faults"]["memory"]["prometheus"].update(detected=False, first=None)

    root = results_copy(tmp_path, bench_figures.FAULT_RESULTS, prometheus_misses_memory)
    table = region(bench_figures.readme(root, README), "fault table")
    assert row(table, "Memory leak").endswith("| missed |")


def test_the_fault_summary_comes_from_the_results(tmp_path: Path) -> None:
    def other_run(doc: dict[str, Any]) -> None:
        agent = doc["result"]["systems"]["agent"]
        agent.update(median_detection_threshold_s=41.7, false_notifications=2, detected=7)
        agent["near_misses"] = [{"alert": "HostLoadPerCore (severity=warning)", "held_s": 5.2}]

    root = results_copy(tmp_path, bench_figures.FAULT_RESULTS, other_run)
    summary = region(bench_figures.readme(root, README), "fault summary")
    assert row(summary, "median detection").split(" | ")[1] == "42 s"
    assert row(summary, "faults detected").split(" | ")[1] == "7"
    assert row(summary, "false notifications").split(" | ")[1].startswith("2 in ")
    assert row(summary, "nearest miss").split(" | ")[1] == "5 s, HostLoadPerCore"


def test_the_nab_figures_come_from_the_results(tmp_path: Path) -> None:
    def other_scores(doc: dict[str, Any]) -> None:
        doc["spread_all"]["standard"].update(mean=70.04, min=66.66, max=71.11)
        doc["published"]["ARTime"]["reward_low_FP_rate"]["score"] = 12.34
        doc["agent"]["alert"]["standard"]["windows_detected"] = 44
        doc["measure"].update(us_per_sample=41.26, bytes_per_series_tracemalloc=15001)

    root = results_copy(tmp_path, bench_figures.NAB_RESULTS, other_scores)
    table = region(bench_figures.readme(root, README), "NAB figures")
    assert "| **70.0** (66.7..71.1) |" in row(table, "**PatternDetector**")
    assert row(table, "ARTime").endswith("| 12.3 |")
    assert ": 44 of 49 windows" in row(table, "as the agent alerts")
    assert "Cost: 41.3 µs a sample and 15,001 bytes of state a series" in table


@pytest.mark.parametrize(
    ("name", "path"),
    [
        (bench_figures.FAULT_RESULTS, ("result", "faults", "memory")),
        (bench_figures.FAULT_RESULTS, ("result", "systems", "prometheus")),
        (bench_figures.NAB_RESULTS, ("published", "numenta")),
        (bench_figures.NAB_RESULTS, ("spread_tuning",)),
    ],
)
def test_a_missing_key_names_the_file_and_the_key(
    tmp_path: Path, name: str, path: tuple[str, ...]
) -> None:
    def drop(doc: dict[str, Any]) -> None:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]

    root = results_copy(tmp_path, name, drop)
    with pytest.raises(bench_figures.ResultsError) as raised:
        bench_figures.readme(root, README)
    assert str(raised.value) == f"{name}: no key {'.'.join(path)!r}"


def test_a_results_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    root = results_copy(tmp_path, bench_figures.FAULT_RESULTS, lambda doc: None)
    (root / bench_figures.FAULT_RESULTS).write_text('{"meta": ', encoding="utf-8")
    with pytest.raises(bench_figures.ResultsError, match=r"^bench/faults/results\.json: cannot"):
        bench_figures.readme(root, README)
