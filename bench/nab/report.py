"""Run nabkit on the dev split with the shipped BaselineDetector and write
bench/nab/results.json and bench/nab/RESULTS.md.  Called by bench/nab/run.sh.

    python3 bench/nab/report.py NAB_DIR [--jobs 2]
"""

# ruff: noqa: UP031  (printf-style formatting reads better for table rows)

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "agent"))

from aiops_agent.detection.baseline import BaselineDetector  # noqa: E402

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
# Published detectors shown next to ours (README table of nabkit, dev split).
PUBLISHED = (
    "ARTime",
    "numenta",
    "htmjava",
    "numentaTM",
    "contextOSE",
    "knncad",
    "randomCutForest",
    "relativeEntropy",
    "earthgeckoSkyline",
    "skyline",
    "twitterADVec",
    "windowedGaussian",
    "bayesChangePt",
    "random",
    "expose",
)

# Candidate families tried before choosing (scratch runs, in-sample NAB dev
# thresholds; not re-run by this script).  Columns: family, standard,
# low-FP, low-FN, note.
CANDIDATES = (
    ("nabkit WindowedGaussian (window 6400, Phi(z))", 25.65, 12.52, 32.75, "reference"),
    ("windowed Gaussian, log-tail score, window 1000", 27.27, 6.63, 36.69, ""),
    ("EWMA mean/var z-score, log-tail score (alpha 0.01)", 35.42, 22.12, 43.44, ""),
    (
        "robust median/MAD over a 128-ring",
        0.00,
        0.00,
        0.00,
        "MAD = 0 on quantised metrics, saturates; O(W) per sample",
    ),
    ("short-ring mean vs long EWMA (mean-shift z)", 21.77, 20.20, 23.36, ""),
    ("Numenta-style anomaly likelihood on EWMA prediction error", 11.60, 9.80, 13.18, ""),
    ("likelihood + range novelty (spatial anomaly)", 46.00, 44.08, 49.04, ""),
    ("range novelty alone", 44.65, 43.19, 46.77, "ties at 1.0"),
    ("EWMA z + range novelty", 47.58, 37.94, 53.49, ""),
    ("EWMA z + range novelty + holdoff (with or without likelihood)", 49.46, 40.17, 54.74, ""),
    ("EWMA z (winsorised update) + novelty + holdoff", 49.40, 37.79, 56.06, "no gain"),
    ("... + per-series score normalisation", 51.32, 41.57, 57.22, "no gain, 5x slower"),
    ("**EWMA z + CUSUM + range novelty + holdoff (shipped)**", None, None, None, "see above"),
)


def nabkit_run(
    nab_dir: str, jobs: int, only: str | None, thresholds: str | None, out: str
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        os.path.join(nab_dir, "nabkit.py"),
        "run",
        os.path.join(HERE, "detector.py") + ":Detector",
        "--jobs",
        str(jobs),
        "--out",
        out,
    ]
    if only:
        cmd += ["--only", only]
    if thresholds:
        cmd += ["--thresholds-from", thresholds]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        doc: dict[str, Any] = json.load(f)
    return doc


def brief(doc: dict[str, Any]) -> dict[str, Any]:
    """The parts of a nabkit summary worth committing (no per-file detail)."""
    out: dict[str, Any] = {
        "selection": doc["selection"]["only"] or "all dev",
        "thresholds_from": os.path.basename(doc["thresholds_from"] or "") or None,
        "scores": {},
    }
    for p in PROFILES:
        r = doc["scores"][p]
        out["scores"][p] = {
            k: r[k]
            for k in (
                "score",
                "threshold",
                "threshold_source",
                "windows",
                "windows_detected",
                "false_positives",
            )
        }
    return out


def measure(nab_dir: str) -> dict[str, Any]:
    """In-process, single-threaded speed, memory and score-spread figures."""
    sys.path.insert(0, nab_dir)
    nabkit = importlib.import_module("nabkit")

    files = nabkit.list_data_files(os.path.join(nab_dir, "data"))
    series = [nabkit.read_series(os.path.join(nab_dir, "data", f)) for f in files]
    n = sum(len(v) for _, v in series)
    best = float("inf")
    scores: list[float] = []
    for _ in range(3):
        scores = []
        t0 = time.perf_counter()
        for ts, vs in series:
            up = BaselineDetector().update
            scores.extend([up(t, v) for t, v in zip(ts, vs)])
        best = min(best, time.perf_counter() - t0)
    live = [s for s in scores if s > 0.0]
    srt = sorted(live)

    def q(p: float) -> float:
        return srt[min(len(srt) - 1, int(p * len(srt)))]

    # Bytes per series: tracemalloc over many warmed-up detectors.
    k = 2000
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    dets = [BaselineDetector() for _ in range(k)]
    for i, d in enumerate(dets):
        for j in range(300):
            d.update(float(j), float((i * 7 + j * 13) % 97) + 0.5)
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per = sum(s.size_diff for s in snap.compare_to(base, "filename")) / k
    return {
        "samples": n,
        "us_per_sample": 1e6 * best / n,
        "bytes_per_series_tracemalloc": round(per),
        "bytes_getsizeof_instance": sys.getsizeof(dets[0]),
        "fraction_scores_exactly_1": sum(1 for s in scores if s == 1.0) / n,
        "score_quantiles_after_warmup": {str(p): q(p) for p in (0.5, 0.9, 0.99, 0.999)},
    }


def fmt(v: float | None) -> str:
    return "-" if v is None else "%.2f" % v


def write_md(path: str, res: dict[str, Any], published: dict[str, Any]) -> None:
    ours = res["dev"]["scores"]
    m = res["measure"]
    lines = [
        "# BaselineDetector on the NAB dev split",
        "",
        "Generated by `bench/nab/run.sh` (nabkit, 29 dev files, 49 windows; thresholds",
        "optimised in-sample per NAB convention, so optimistic).  Detector:",
        "`agent/aiops_agent/detection/baseline.py`, shipped defaults.",
        "",
        "| detector | standard | reward low FP | reward low FN |",
        "|---|---|---|---|",
        "| **BaselineDetector (ours)** | **%s** | **%s** | **%s** |"
        % tuple(fmt(ours[p]["score"]) for p in PROFILES),
    ]
    for name in PUBLISHED:
        d = published.get(name)
        if d is None:
            continue
        lines.append("| %s | %s | %s | %s |" % (name, *(fmt(d[p]["score"]) for p in PROFILES)))
    lines += [
        "",
        "Thresholds NAB picked for ours: "
        + ", ".join("%s %.4f" % (p, ours[p]["threshold"]) for p in PROFILES)
        + ".",
        "Recommended default alert threshold: 0.95 (score 0.95 = 13 decades of surprise,",
        "i.e. tail probability 1e-13; NAB's standard optimum is %.3f)."
        % ours["standard"]["threshold"],
        "Standard profile: %d/%d windows detected, %d false-positive rows."
        % (
            ours["standard"]["windows_detected"],
            ours["standard"]["windows"],
            ours["standard"]["false_positives"],
        ),
        "",
        "## Cost",
        "",
        "| measure | value |",
        "|---|---|",
        "| update() µs/sample (in-process, single thread, best of 3, %d samples) | %.2f |"
        % (m["samples"], m["us_per_sample"]),
        "| bytes per series (tracemalloc, warmed-up instance) | %d |"
        % (m["bytes_per_series_tracemalloc"]),
        "| sys.getsizeof(instance) | %d |" % m["bytes_getsizeof_instance"],
        "| fraction of all scores exactly 1.0 | %.2e |" % m["fraction_scores_exactly_1"],
        "| score quantiles after warm-up (p50 / p90 / p99 / p99.9) | %s |"
        % " / ".join("%.3f" % v for v in m["score_quantiles_after_warmup"].values()),
        "",
        "## Transfer check (thresholds fixed on one subfolder, applied to the other)",
        "",
        "| selection | thresholds from | standard | reward low FP | reward low FN |",
        "|---|---|---|---|---|",
    ]
    for key, sel, src in (
        ("kc_in", "realKnownCause", "itself (in-sample)"),
        ("aws_in", "realAWSCloudwatch", "itself (in-sample)"),
        ("aws_from_kc", "realAWSCloudwatch", "realKnownCause"),
        ("kc_from_aws", "realKnownCause", "realAWSCloudwatch"),
    ):
        s = res[key]["scores"]
        lines.append(
            "| %s | %s | %s |" % (sel, src, " | ".join(fmt(s[p]["score"]) for p in PROFILES))
        )
    lines += [
        "",
        "## Candidate families tried (scratch runs, dev split, in-sample thresholds)",
        "",
        "| candidate | standard | low FP | low FN | note |",
        "|---|---|---|---|---|",
    ]
    for name, *nums, note in CANDIDATES:
        vals = [ours[p]["score"] for p in PROFILES] if nums[0] is None else nums
        lines.append("| %s | %s | %s |" % (name, " | ".join(fmt(v) for v in vals), note))
    lines += [
        "",
        "Sensitivity seen while tuning (standard): cusum_k 1.5 / 2 / 3 → 49.4 / 51.7 / 49.5;",
        "alpha 0.005 / 0.01 / 0.02 → 49.2 / 51.7 / 49.9; holdoff 50 / 100 / 200 → 51.5 /",
        "51.7 / 51.6; warm-up 150 / 300 → 51.7 / 51.7.  Gains over 'EWMA z + novelty' are",
        "a few windows (one window ≈ 1 point), so expect less on the holdout.",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("nab_dir")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    nab = os.path.abspath(a.nab_dir)
    with tempfile.TemporaryDirectory() as tmp:

        def p(name: str) -> str:
            return os.path.join(tmp, name + ".json")

        res: dict[str, Any] = {}
        res["dev"] = brief(nabkit_run(nab, a.jobs, None, None, p("dev")))
        res["kc_in"] = brief(nabkit_run(nab, a.jobs, "realKnownCause", None, p("kc")))
        res["aws_in"] = brief(nabkit_run(nab, a.jobs, "realAWSCloudwatch", None, p("aws")))
        res["aws_from_kc"] = brief(nabkit_run(nab, a.jobs, "realAWSCloudwatch", p("kc"), p("x1")))
        res["kc_from_aws"] = brief(nabkit_run(nab, a.jobs, "realKnownCause", p("aws"), p("x2")))
    res["measure"] = measure(nab)
    res["params"] = "BaselineDetector() defaults"
    with open(os.path.join(nab, "published_dev.json")) as f:
        published = json.load(f)["detectors"]
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")
    write_md(os.path.join(HERE, "RESULTS.md"), res, published)
    d = res["dev"]["scores"]
    print(
        "dev: "
        + "  ".join("%s %.2f@%.4f" % (k, d[k]["score"], d[k]["threshold"]) for k in PROFILES)
    )
    print(
        "wrote %s and %s" % (os.path.join(HERE, "results.json"), os.path.join(HERE, "RESULTS.md"))
    )


if __name__ == "__main__":
    main()
