"""Cost growth with the number of series that have a learned baseline: drives the agent's
detector, aiops_agent.detection.pattern.PatternDetector, directly with 1k, 10k and 100k series,
each size in a fresh interpreter (the agent's), and reports time per update after warm-up and
memory per series (tracemalloc and RSS), with log-log slopes. 100k series take about 1.5 GB.

The series are held as the agent would hold them: a dict from (metric name, labels) to a detector.

Environment: SIZES (default 1000,10000,100000), REPS (2; QUICK=1: 1), TIMED_ROUNDS (20; timed in CPU
time),
AGENT_PYTHON (an interpreter that can import aiops_agent).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

QUICK = os.environ.get("QUICK", "") not in ("", "0")
SIZES = [int(s) for s in os.environ.get("SIZES", "1000,10000,100000").split(",")]
REPS = int(os.environ.get("REPS", "1" if QUICK else "2"))
TIMED_ROUNDS = int(os.environ.get("TIMED_ROUNDS", "5" if QUICK else "20"))


def agent_python() -> str:
    if os.environ.get("AGENT_PYTHON"):
        return os.environ["AGENT_PYTHON"]
    agent = os.environ.get("AGENT") or shutil.which("aiops-agent") or "/work/venv/bin/aiops-agent"
    candidate = Path(agent).resolve().parent / "python"
    return str(candidate) if candidate.exists() else sys.executable


CHILD = r"""
import copy, gc, json, math, random, sys, time, tracemalloc

def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

from aiops_agent.detection.pattern import PatternDetector
n, timed_rounds = int(sys.argv[1]), int(sys.argv[2])
# Past the warm-up (150 evaluations of 3 samples) with room to fill its pattern memory.
learned = 3000
rng = random.Random(7)
noise = [rng.gauss(0.0, 1.0) for _ in range(4099)]
keys = [("node_bench_metric", (("series", str(i)), ("host", "h"))) for i in range(n)]
levels = [rng.uniform(1.0, 1000.0) for _ in range(n)]
# Teach one detector a daily pattern with noise (10 days of 5-minute samples), then give every
# series a deep copy of it (its own pattern memory and history; teaching 100k series one sample at
# a time would take long and measure nothing new); then two real rounds.
template = PatternDetector()
for r in range(learned):
    daily = 100.0 * math.sin(r * 2 * math.pi / 288)
    template.update(1.7e9 + 300.0 * r, 500.0 + daily + 10 * noise[r])
ts = 1.7e9 + 300.0 * learned
gc.collect()
rss0 = rss_kib()
tracemalloc.start()
snap0 = tracemalloc.get_traced_memory()[0]
detectors = {k: copy.deepcopy(template) for k in keys}
items = list(zip(detectors.values(), levels))

def one_round(r):
    off = r % 4000
    t = ts + 300.0 * r
    i = 0
    for det, level in items:
        det.update(t, level + noise[(off + i) & 4095])
        i += 1

one_round(0)
one_round(1)
created = tracemalloc.get_traced_memory()[0] - snap0
tracemalloc.stop()
gc.collect()
rss_created = rss_kib() - rss0
times = []
cpu_times = []
for r in range(2, 2 + timed_rounds):
    start, cpu = time.perf_counter(), time.process_time()
    one_round(r)
    cpu_times.append(time.process_time() - cpu)
    times.append(time.perf_counter() - start)
rss_after = rss_kib() - rss0
# the loop without update(): what the harness itself costs per item
start = time.process_time()
for _ in range(3):
    i = 0
    for det, level in items:
        (level + noise[(0 + i) & 4095])
        i += 1
loop_overhead = (time.process_time() - start) / 3
cpu_times.sort()
times.sort()
print(json.dumps({
    "series": n,
    "learned_samples": learned,
    "update_us_median": 1e6 * cpu_times[len(cpu_times) // 2] / n,
    "update_us_best": 1e6 * cpu_times[0] / n,
    "update_us_wall_median": 1e6 * times[len(times) // 2] / n,
    "loop_overhead_us": 1e6 * loop_overhead / n,
    "round_ms_median": 1e3 * cpu_times[len(cpu_times) // 2],
    "tracemalloc_bytes_per_series": created / n,
    "rss_bytes_per_series": 1024 * rss_created / n,
    "rss_bytes_per_series_after_updates": 1024 * rss_after / n,
    "rss_kib_total": rss_kib(),
}))
"""


def main() -> int:
    python = agent_python()
    rows: list[dict[str, Any]] = []
    for rep in range(REPS):
        order = SIZES if rep % 2 == 0 else list(reversed(SIZES))
        for n in order:
            bl.log(f"baselines: {n} series, rep {rep}")
            out = subprocess.run(
                [python, "-c", CHILD, str(n), str(TIMED_ROUNDS)],
                capture_output=True,
                text=True,
                check=False,
                timeout=1800,
            )
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            rows.append({"rep": rep, **json.loads(out.stdout.strip().splitlines()[-1])})
    points = []
    for n in SIZES:
        mine = [r for r in rows if r["series"] == n]
        points.append(
            {
                "series": n,
                "update_us": bl.median(r["update_us_median"] for r in mine),
                "round_ms": bl.median(r["round_ms_median"] for r in mine),
                "tracemalloc_bytes_per_series": bl.median(
                    r["tracemalloc_bytes_per_series"] for r in mine
                ),
                "rss_bytes_per_series": bl.median(
                    r["rss_bytes_per_series_after_updates"] for r in mine
                ),
                "loop_overhead_us": bl.median(r["loop_overhead_us"] for r in mine),
            }
        )
    xs = [p["series"] for p in points]
    time_slope = bl.loglog_slope(xs, [p["round_ms"] for p in points])
    memory_slope = bl.loglog_slope(
        xs, [p["tracemalloc_bytes_per_series"] * p["series"] for p in points]
    )
    document = {
        "benchmark": "growth_baseline",
        "quick": QUICK,
        "settings": {"sizes": SIZES, "reps": REPS, "timed_rounds": TIMED_ROUNDS, "python": python},
        "machine": bl.machine(),
        "rows": rows,
        "summary": {
            "points": points,
            "loglog_slope_time_per_round": time_slope,
            "loglog_slope_memory_total": memory_slope,
            "verdict_time": bl.growth_verdict(time_slope),
            "verdict_memory": bl.growth_verdict(memory_slope),
        },
    }
    path = bl.write_json("growth_baseline.json", document)
    bl.log(f"wrote {path}")
    for p in points:
        bl.log(
            f"{p['series']:>7} series: {p['update_us']:.2f} us/update, "
            f"{p['tracemalloc_bytes_per_series']:.0f} B/series (tracemalloc), "
            f"{p['rss_bytes_per_series']:.0f} B/series (RSS)"
        )
    bl.log(f"slopes: time {time_slope:.3f}, memory {memory_slope:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
