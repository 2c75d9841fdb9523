"""The benchmark figures the README and the docs quote, rendered from the committed results
(bench/nab/results.json by bench/nab/report.py, bench/faults/results.json by bench/faults/score.py)
between markers, so that a re-run of a benchmark changes them with `python scripts/generate.py` and
a stale copy fails tests/unit/test_generated_files.py. Every figure is read from those files as the
benchmarks computed it (means, spreads and medians included); this module only formats them."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from generators.docs import replace_region

NAB_RESULTS = "bench/nab/results.json"
FAULT_RESULTS = "bench/faults/results.json"

# Published detectors quoted beside ours: their key in results.json and the name users know.
PUBLISHED = {"ARTime": "ARTime", "numenta": "Numenta HTM"}
NAB_PROFILES = ("standard", "reward_low_FP_rate")
FAULT_SYSTEMS = {
    "agent": "agent, defaults",
    "agent_thresholds": "agent, threshold rules only",
    "prometheus": "node_exporter + Prometheus",
}


class ResultsError(ValueError):
    """A results file lacks what a table needs."""


class Results:
    """One benchmark's results.json; a missing key is an error naming the file and the key."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        try:
            self.doc = json.loads((root / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ResultsError(f"{name}: cannot read benchmark results: {exc}") from exc

    def get(self, *keys: str) -> Any:
        found: Any = self.doc
        for depth, key in enumerate(keys):
            if not isinstance(found, dict) or key not in found:
                where = ".".join(keys[: depth + 1])
                raise ResultsError(f"{self.name}: no key {where!r}")
            found = found[key]
        return found


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


# --- NAB ------------------------------------------------------------------------------------
def nab_table(nab: Results) -> str:
    """PatternDetector's mean over start offsets with its range, on the tuning offsets, the
    published leaders, and what the agent's alerting makes of it."""
    offsets = len(nab.get("offsets"))
    every = [nab.get("spread_all", p) for p in NAB_PROFILES]
    tuning = [nab.get("spread_tuning", p, "mean") for p in NAB_PROFILES]
    lines = [
        "| NAB dev split | standard | reward low FP |",
        "|---|---|---|",
        _row(
            [f"**PatternDetector**, mean of {offsets} start offsets (min..max)"]
            + [f"**{s['mean']:.1f}** ({s['min']:.1f}..{s['max']:.1f})" for s in every]
        ),
        _row(
            ["PatternDetector, mean of the offsets it was tuned on"] + [f"{v:.1f}" for v in tuning]
        ),
    ]
    for key, title in PUBLISHED.items():
        scores = [nab.get("published", key, p, "score") for p in NAB_PROFILES]
        lines.append(_row([f"{title}, one run"] + [f"{v:.1f}" for v in scores]))
    alert = nab.get("agent", "alert")
    standard = nab.get("agent", "alert", "standard")
    lines.append(
        _row(
            [
                "as the agent alerts (`HostAnomalousSeries`, default `for`): "
                f"{standard['windows_detected']} of {standard['windows']} windows, "
                f"{standard['false_positives']} false rows"
            ]
            + [f"{alert[p]['score']:.1f}" for p in NAB_PROFILES]
        )
    )
    lines += [
        "",
        f"Cost: {nab.get('measure', 'us_per_sample'):.1f} µs a sample and "
        f"{nab.get('measure', 'bytes_per_series_tracemalloc'):,} bytes of state a series "
        f"(CPython {nab.get('measure', 'python')}, this machine).",
    ]
    return "\n".join(lines)


# --- faults ---------------------------------------------------------------------------------
def _systems(faults: Results) -> list[str]:
    systems: list[str] = faults.get("meta", "systems")
    for system in systems:
        if system not in FAULT_SYSTEMS:
            raise ResultsError(f"{faults.name}: unknown system {system!r} in 'meta.systems'")
    return systems


def fault_summary(faults: Results) -> str:
    """Detected, medians, false notifications and the nearest miss, per system, as score.py
    computed them."""
    systems = _systems(faults)
    stats = [faults.get("result", "systems", s) for s in systems]
    misses = [faults.get("result", "systems", s, "near_misses") for s in systems]
    hours = [faults.get("result", "systems", s, "baseline_host_hours") for s in systems]
    caption = (
        f"Run of {faults.get('meta', 'date')}, commit {faults.get('meta', 'commit')} "
        f"(`{faults.get('meta', 'command')}`). Times are benchmark seconds: the agent collects "
        f"every {faults.get('meta', 'interval'):g} s where its default is 15 s, so one second "
        f"stands for {faults.get('meta', 'time_scale')} s of a host's life."
    )
    lines = [
        textwrap.fill(caption, width=99, break_on_hyphens=False, break_long_words=False),
        "",
        "| " + _row([FAULT_SYSTEMS[s] for s in systems]),
        "|---|" + "---|" * len(systems),
        _row(
            [f"faults detected (of {len(faults.get('meta', 'faults'))})"]
            + [str(s["detected"]) for s in stats]
        ),
        _row(
            ["median detection, threshold faults"]
            + [_seconds(s["median_detection_threshold_s"]) for s in stats]
        ),
        _row(
            ["median from the level's crossing to the notification, threshold faults"]
            + [_seconds(s["median_after_condition_threshold_s"]) for s in stats]
        ),
        _row(
            ["false notifications, quiet baseline"]
            + [f"{s['false_notifications']} in {h:g} host-hours" for s, h in zip(stats, hours)]
        ),
        _row(
            ["nearest miss, quiet baseline (longest pending without firing)"]
            + [_nearest(m) for m in misses]
        ),
    ]
    return "\n".join(lines)


def _nearest(misses: list[dict[str, Any]] | None) -> str:
    if misses is None:
        return "not recorded"
    if not misses:
        return "none pending"
    return f"{misses[0]['held_s']:.0f} s, {_alert(misses[0]['alert'])}"


def _alert(brief: str) -> str:
    """An alert as score.py names it, `Name (severity=..., series=..., ...)`, shortened to its
    name and, for a learned-baseline alert, the series."""
    name = brief.split(" (", maxsplit=1)[0]
    series = re.search(r"series=([^,)]+)", brief)
    return f"{name} ({series.group(1)})" if series else name


def fault_table(faults: Results) -> str:
    """Per fault and system: when the first notification of the right kind came, and which."""
    systems = _systems(faults)
    lines = [
        _row(["fault"] + [FAULT_SYSTEMS[s] for s in systems]),
        "|---|" + "---|" * len(systems),
    ]
    for name in faults.get("meta", "faults"):
        cells = [faults.get("result", "faults", name, "title")]
        for system in systems:
            row = faults.get("result", "faults", name, system)
            if row["detected"]:
                cells.append(f"{row['detection_s']:.0f} s, {_alert(row['first'])}")
            else:
                cells.append("missed")
        lines.append(_row(cells))
    return "\n".join(lines)


# --- the files ------------------------------------------------------------------------------
# Each takes the repository and a file's current text, and replaces its generated regions.
def readme(root: Path, current: str) -> str:
    nab, faults = Results(root, NAB_RESULTS), Results(root, FAULT_RESULTS)
    text = replace_region(current, "NAB figures", nab_table(nab))
    text = replace_region(text, "fault summary", fault_summary(faults))
    return replace_region(text, "fault table", fault_table(faults))


def faults_readme(root: Path, current: str) -> str:
    faults = Results(root, FAULT_RESULTS)
    text = replace_region(current, "fault summary", fault_summary(faults))
    return replace_region(text, "fault table", fault_table(faults))


def alerting(root: Path, current: str) -> str:
    return replace_region(current, "fault table", fault_table(Results(root, FAULT_RESULTS)))
