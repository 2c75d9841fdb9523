"""Before/after figures for suggested agent changes, measured without editing agent/: each variant
runs the real agent through bench/variants/agent_variant.py (in-process patches that emulate the
change) and/or with a config change, side by side with the unchanged agent through the same
wrapper, interleaved and repeated. Figures: start to first good scrape, RSS and PSS after the
window, CPU ms per collection (interval 1 s), then wrk on /metrics.

Environment: REPS (3; QUICK=1: 1), WINDOW (20 s; QUICK: 6), VARIANTS (comma list of names below).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

QUICK = os.environ.get("QUICK", "") not in ("", "0")
REPS = int(os.environ.get("REPS", "1" if QUICK else "3"))
WINDOW = float(os.environ.get("WINDOW", "6" if QUICK else "20"))
WRK_SECONDS = int(os.environ.get("WRK_SECONDS", "2" if QUICK else "5"))
AGENT = os.environ.get("AGENT") or shutil.which("aiops-agent") or "/work/venv/bin/aiops-agent"
AGENT_PYTHON = os.environ.get("AGENT_PYTHON") or str(Path(AGENT).resolve().parent / "python")
WRAPPER = str(Path(__file__).resolve().parent / "variants" / "agent_variant.py")

# name: (patches for agent_variant.py, extra YAML under collectors:, what it emulates)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "unchanged": ("", "", "the agent as it is"),
    "ascii_host": ("ascii_host", "", "bind address passed to getaddrinfo as bytes (no idna codec)"),
    "raw_reads": ("raw_reads", "", "/proc and /sys read with os.open/os.read, no file objects"),
    "processes_off": (
        "",
        "  processes:\n    enabled: false\n",
        "processes collector off by default, as in node_exporter",
    ),
    "two_writes": ("two_writes", "", "response sent as two writes (before commit 5e84aeb)"),
    # Before commits 984c340 and 51e0720 the agent imported ssl, hashlib and statistics at
    # start-up; these emulated their lazy import (now a no-op): VARIANTS=no_openssl,...
    "no_openssl": ("no_openssl", "", "ssl/hashlib/hmac imported only when used"),
    "no_statistics": ("no_statistics", "", "forecast's median without `statistics`"),
}
DEFAULT = ("unchanged", "ascii_host", "raw_reads", "processes_off", "two_writes")


def run_wrk(port: int) -> tuple[float, float, float]:
    """requests/s, p50 ms, p99 ms of wrk on /metrics (gzip, 4 connections, WRK_SECONDS)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c4",
            f"-d{WRK_SECONDS}s",
            "--latency",
            "-H",
            "Accept-Encoding: gzip",
            f"http://127.0.0.1:{port}/metrics",
        ],
        capture_output=True,
        text=True,
        timeout=WRK_SECONDS + 60,
        check=False,
    ).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def pct(q: str) -> float:
        match = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)", out, re.M)
        return float(match[1]) * units[match[2]] if match else float("nan")

    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return (float(match[1]) if match else 0.0), pct("50"), pct("99")


def measure(name: str) -> dict[str, Any]:
    patches, collectors, _ = VARIANTS[name]
    work = Path(tempfile.mkdtemp(prefix="aiops-bench-var-"))
    port = bl.free_port()
    config = work / "config.yaml"
    config.write_text(
        f'agent:\n  interval: 1s\n  state_dir: "{work / "state"}"\n'
        f'http:\n  listen: "127.0.0.1:{port}"\n'
        + (f"collectors:\n{collectors}" if collectors else "")
    )
    log = open(work / "stderr.log", "wb")  # noqa: SIM115
    started = time.perf_counter()
    process = subprocess.Popen(
        [AGENT_PYTHON, WRAPPER, "run", "--config", str(config), "--log-format", "json"],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "VARIANT": patches},
    )
    try:
        first = bl.wait_first_good(port, "/metrics", b"node_cpu", started, 60, process)
        if first is None:
            return {"variant": name, "error": (work / "stderr.log").read_text()[-1000:]}
        time.sleep(3)
        scraper = bl.Scraper(port, "/metrics")
        page0 = scraper.get()[2]
        cpu0 = bl.tree_cpu_ns(process.pid)
        time.sleep(WINDOW)
        page1 = scraper.get()[2]
        cpu1 = bl.tree_cpu_ns(process.pid)
        scraper.close()
        collections = bl.metric_value(page1, "aiops_agent_collections_total") - bl.metric_value(
            page0, "aiops_agent_collections_total"
        )
        wrk = run_wrk(port)
        memory = bl.tree_memory_kib(process.pid)
        with open(f"/proc/{process.pid}/maps", encoding="ascii", errors="replace") as handle:
            maps = handle.read()
        return {
            "variant": name,
            "libcrypto_mapped": "libcrypto" in maps,
            "start_s": first,
            "rss_kib": memory["rss_kib"],
            "pss_kib": memory["pss_kib"],
            "cpu_ms_per_collection": (cpu1 - cpu0) / 1e6 / max(collections, 1),
            "series": bl.series_count(page1),
            "wrk_requests_per_s": wrk[0],
            "wrk_p50_ms": wrk[1],
            "wrk_p99_ms": wrk[2],
        }
    finally:
        bl.stop(process)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    names = [n for n in os.environ.get("VARIANTS", ",".join(DEFAULT)).split(",") if n]
    rows = []
    for rep in range(REPS):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            bl.log(f"variants: {name}, rep {rep}")
            rows.append({"rep": rep, **measure(name)})
    summary: dict[str, Any] = {}
    for name in names:
        mine = [r for r in rows if r["variant"] == name and "error" not in r]
        if not mine:
            continue
        summary[name] = {
            "emulates": VARIANTS[name][2],
            "start_s": bl.median(r["start_s"] for r in mine),
            "rss_mib": bl.median(r["rss_kib"] for r in mine) / 1024,
            "pss_mib": bl.median(r["pss_kib"] for r in mine) / 1024,
            "cpu_ms_per_collection": bl.median(r["cpu_ms_per_collection"] for r in mine),
            "wrk_requests_per_s": bl.median(r["wrk_requests_per_s"] for r in mine),
            "wrk_p50_ms": bl.median(r["wrk_p50_ms"] for r in mine),
            "wrk_p99_ms": bl.median(r["wrk_p99_ms"] for r in mine),
            "libcrypto_mapped": any(r["libcrypto_mapped"] for r in mine),
            "series": max(r["series"] for r in mine),
        }
    base = summary.get("unchanged")
    if base:
        for s in summary.values():
            s["delta_vs_unchanged"] = {
                k: s[k] - base[k]
                for k in (
                    "start_s",
                    "rss_mib",
                    "pss_mib",
                    "cpu_ms_per_collection",
                    "wrk_requests_per_s",
                    "wrk_p99_ms",
                )
            }
    document = {
        "benchmark": "variants",
        "quick": QUICK,
        "settings": {"reps": REPS, "window_s": WINDOW, "interval_s": 1},
        "machine": bl.machine(),
        "rows": rows,
        "summary": summary,
    }
    bl.log(f"wrote {bl.write_json('variants.json', document)}")
    for name, s in summary.items():
        bl.log(
            f"{name:28s} start {s['start_s']:.2f}s rss {s['rss_mib']:.1f} pss {s['pss_mib']:.1f} "
            f"cpu {s['cpu_ms_per_collection']:.2f} ms/collection wrk {s['wrk_requests_per_s']:.0f} "
            f"rps p50 {s['wrk_p50_ms']:.2f} p99 {s['wrk_p99_ms']:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
