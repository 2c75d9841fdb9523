"""Where PatternDetector loses its NAB points: per file and window, at given start offsets.

    NAB_DIR=/path/to/nab python3 bench/nab/analyse.py --offsets 0,7 [--jobs 2] [--profile standard]

Runs the shipped detector (``bench/nab/detector.py``'s ``Detector``, same offsets) over the
dev split, lets nabkit pick its in-sample threshold per offset, and prints markdown: a
summary of the raw points lost by cause, then one row per labelled window (detected or not,
the highest score inside it, the credit of its first detection, whether a holdoff silenced
a score above the threshold there) and the false-positive rows by the component that made
the score (pattern memory or range novelty).

The component is recorded by a subclass that observes the detector's own steps (the range
score and the unsilenced score of each row); it returns exactly the scores the shipped
detector returns, which ``main`` checks on every row.
"""

# ruff: noqa: UP031  (printf-style formatting reads better for table rows)

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "agent")))

from aiops_agent.detection.pattern import PatternDetector  # noqa: E402


class Observed(PatternDetector):
    """PatternDetector that remembers, for the row just scored, what produced its score."""

    __slots__ = ("last_range", "last_stuck", "last_unsilenced")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.last_range = 0.0  # range-novelty score of the row (0.0: inside the range)
        self.last_stuck = 0.0  # stuck-novelty score of the row
        self.last_unsilenced = 0.0  # the score before the holdoff

    def _range_novelty(self, x: float) -> float:
        self.last_range = super()._range_novelty(x)
        return self.last_range

    def _stuck_novelty(self, x: float) -> float:
        self.last_stuck = super()._stuck_novelty(x)
        return self.last_stuck

    def _apply_holdoff(self, score: float) -> float:
        self.last_unsilenced = score
        return super()._apply_holdoff(score)


def run_file(
    task: tuple[str, list[float], list[float], int, dict[str, Any]],
) -> tuple[str, list[Any]]:
    """Rows of one file: (score, unsilenced score, component) with the offset applied."""
    name, times, values, offset, params = task
    shipped, seen = PatternDetector(**params), Observed(**params)
    rows: list[Any] = []
    for i, (t, v) in enumerate(zip(times, values)):
        if i < offset:
            rows.append((0.0, 0.0, "-"))
            continue
        score = seen.update(t, v)
        if score != shipped.update(t, v):
            raise SystemExit(
                "%s row %d: the observed detector disagrees with the shipped one" % (name, i)
            )
        unsilenced = seen.last_unsilenced
        part = "pattern"
        if seen.last_range > 0.0 and seen.last_range >= unsilenced:
            part = "range"
        elif seen.last_stuck > 0.0 and seen.last_stuck >= unsilenced:
            part = "stuck"
        rows.append((score, unsilenced, part))
    return name, rows


def analyse(
    nabkit: Any, nab_dir: str, offset: int, *, jobs: int, profile: str, params: dict[str, Any]
) -> dict[str, Any]:
    labels = nabkit.load_labels(os.path.join(nab_dir, "labels.json"))
    profiles = nabkit.load_profiles(os.path.join(nab_dir, "profiles.json"))
    data_dir = os.path.join(nab_dir, "data")
    files = nabkit.list_data_files(data_dir)
    data = {f: nabkit.read_series(os.path.join(data_dir, f)) for f in files}
    tasks = [(f, data[f][0], data[f][1], offset, params) for f in files]
    with multiprocessing.Pool(max(1, jobs)) as pool:
        rows = dict(pool.map(run_file, tasks, chunksize=1))
    sel = nabkit.Selection({f: data[f][0] for f in files}, labels)
    res = nabkit.evaluate({f: [r[0] for r in rows[f]] for f in files}, sel, profiles)[profile]
    thr, wt = res["threshold"], profiles[profile]
    windows, fps = [], {"pattern": [0, 0.0], "range": [0, 0.0], "stuck": [0, 0.0]}
    for f in files:
        g = sel.geometry[f]
        scored = rows[f][g.first :]
        spans: dict[int, list[int]] = {}
        for j, w in enumerate(g.window_of):
            if w >= 0:
                spans.setdefault(w, []).append(j)
            elif scored[j][0] >= thr:
                fps[scored[j][2]][0] += 1
                fps[scored[j][2]][1] += wt.fp * g.credit[j]
        for w, js in sorted(spans.items()):
            hits = [j for j in js if scored[j][0] >= thr]
            silenced = [j for j in js if scored[j][0] < thr <= scored[j][1]]
            windows.append(
                {
                    "file": f,
                    "window": w,
                    "rows": "%d-%d" % (g.first + js[0], g.first + js[-1]),
                    "max": max(scored[j][1] for j in js),
                    "first": g.first + hits[0] if hits else None,
                    "by": scored[hits[0]][2] if hits else "",
                    "credit": g.credit[hits[0]] if hits else None,
                    "silenced": len(silenced),
                }
            )
    return {
        "offset": offset,
        "threshold": thr,
        "score": res["score"],
        "windows": windows,
        "fp": fps,
        "wt": wt,
    }


def print_markdown(runs: list[dict[str, Any]], profile: str) -> None:
    head = " | ".join("offset %d" % r["offset"] for r in runs)
    print("| cause (raw points, %s profile) | %s |" % (profile, head))
    print("|---|" + "---|" * len(runs))

    def row(label: str, cells: list[str]) -> None:
        print("| %s | %s |" % (label, " | ".join(cells)))

    row("score; in-sample threshold", ["%.2f; %.4f" % (r["score"], r["threshold"]) for r in runs])
    missed = [[w for w in r["windows"] if w["first"] is None] for r in runs]
    row(
        "windows missed, no unsilenced score above the threshold inside",
        [
            "%d, %.2f" % (n, n * r["wt"].fn)
            for r, n in ((r, sum(1 for w in m if not w["silenced"])) for r, m in zip(runs, missed))
        ],
    )
    row(
        "windows missed because a holdoff silenced a score above the threshold",
        [
            "%d, %.2f" % (n, n * r["wt"].fn)
            for r, n in ((r, sum(1 for w in m if w["silenced"])) for r, m in zip(runs, missed))
        ],
    )
    row(
        "late detection (sum of 1 - first credit)",
        [
            "%.2f"
            % (r["wt"].tp * sum(1 - w["credit"] for w in r["windows"] if w["credit"] is not None))
            for r in runs
        ],
    )
    for part in ("pattern", "range", "stuck"):
        row(
            "false-positive rows from %s scores" % part,
            ["%d rows, %.2f" % (r["fp"][part][0], 0.0 - r["fp"][part][1]) for r in runs],
        )
    print()
    print(
        "| file | window (rows) | "
        + " | ".join(
            "offset %d: found at (by, credit) / max score / silenced rows" % r["offset"]
            for r in runs
        )
        + " |"
    )
    print("|---|---|" + "---|" * len(runs))
    for k, w0 in enumerate(runs[0]["windows"]):
        cells = []
        for r in runs:
            w = r["windows"][k]
            found = (
                "row %d (%s, %.2f)" % (w["first"], w["by"], w["credit"])
                if w["first"] is not None
                else "**missed**"
            )
            cells.append("%s / %.3f / %d" % (found, w["max"], w["silenced"]))
        name = w0["file"].split("/")[1][: -len(".csv")]
        print("| %s | w%d (%s) | %s |" % (name, w0["window"], w0["rows"], " | ".join(cells)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--nab-dir", default=os.environ.get("NAB_DIR"), help="nabkit directory (default: $NAB_DIR)"
    )
    ap.add_argument("--offsets", default="0,7", help="comma list of start offsets (default 0,7)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--profile", default="standard")
    ap.add_argument(
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a PatternDetector tunable (number), repeatable; default: shipped",
    )
    a = ap.parse_args()
    if not a.nab_dir or not os.path.isfile(os.path.join(a.nab_dir, "nabkit.py")):
        raise SystemExit(
            "analyse.py: set NAB_DIR (or --nab-dir) to a directory holding nabkit.py; got %r"
            % a.nab_dir
        )
    sys.path.insert(0, a.nab_dir)
    nabkit = importlib.import_module("nabkit")
    offsets = [int(k) for k in a.offsets.split(",")]
    params: dict[str, Any] = {}
    for pair in a.params:
        key, sep, value = pair.partition("=")
        try:
            params[key] = json.loads(value) if sep else None
        except ValueError:
            params[key] = None
        if not isinstance(params[key], (int, float)):
            raise SystemExit("analyse.py: -p %r: expected KEY=NUMBER" % pair)
    runs = [
        analyse(nabkit, a.nab_dir, k, jobs=a.jobs, profile=a.profile, params=params)
        for k in offsets
    ]
    print_markdown(runs, a.profile)


if __name__ == "__main__":
    main()
