#!/usr/bin/env python3
"""A stand-in picture of the Host dashboard (mixin/dashboards_out/aiops-agent-host.json): its
time-series panels' queries, run against a real Prometheus, drawn with matplotlib. It is not a
Grafana screenshot (Grafana is not packaged for Debian) and says so on the picture.

    scripts/stack.sh up     # then let it collect for a while
    python scripts/render_host_dashboard.py --prometheus http://127.0.0.1:19090 \\
        --instance 127.0.0.1:19877 --minutes 15 --out docs/img/host-dashboard.png

Needs matplotlib (not a project dependency: e.g. the benchmarks' venv, bench/Makefile).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOARD = ROOT / "mixin/dashboards_out/aiops-agent-host.json"


def query_range(prometheus: str, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": 15})
    url = f"{prometheus}/api/v1/query_range?{params}"
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 (scheme checked in main)
        result: list[dict[str, Any]] = json.load(r)["data"]["result"]
    return result


def legend(template: str, labels: dict[str, str]) -> str:
    for name, value in labels.items():
        template = template.replace("{{" + name + "}}", value)
    return template if template != "__auto" else labels.get("__name__", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--job", default="aiops-agent")
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if urllib.parse.urlsplit(args.prometheus).scheme not in ("http", "https"):
        parser.error(f"--prometheus: {args.prometheus!r} is not an http(s) URL")
    import matplotlib  # noqa: PLC0415 (a heavy import, only for this script)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    board = json.loads(BOARD.read_text(encoding="utf-8"))
    panels = [p for p in board["panels"] if p["type"] == "timeseries"]
    end = time.time()
    start = end - args.minutes * 60
    columns = 3
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(15, 3.2 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, panels):
        for target in panel["targets"]:
            expr = (
                target["expr"]
                .replace("$__rate_interval", "1m")
                .replace("$job", args.job)
                .replace("$instance", args.instance)
            )
            for series in query_range(args.prometheus, expr, start, end):
                times = [datetime.fromtimestamp(float(t)) for t, _ in series["values"]]
                values = [float(v) for _, v in series["values"]]
                axis.plot(times, values, label=legend(target["legendFormat"], series["metric"]))
        axis.set_title(panel["title"], fontsize=10)
        axis.tick_params(labelsize=7)
        axis.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M"))
        if axis.lines and len(axis.lines) <= 8:
            axis.legend(fontsize=6, loc="upper left")
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle(
        f"STAND-IN, not Grafana: the Host dashboard's queries drawn by matplotlib from real "
        f"Prometheus data ({args.instance}, last {args.minutes:g} min)",
        fontsize=12,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
