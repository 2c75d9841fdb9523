"""Overhead of aiops-agent against Prometheus node_exporter and Glances on this machine.

Each agent is started alone on a loopback port, scraped on the same schedule as Prometheus would
(default every 15 s, with Prometheus' headers, gzip included) for the same window, then probed with
sequential scrapes and loaded with wrk for a bounded time, then stopped. Agents run one after
another; repetitions rotate the order so that drift on a shared machine spreads evenly.

Figures per run: time from exec to the first good scrape; steady RSS and PSS of the whole process
tree (smaps_rollup, median of the second half of the window); CPU % of one core over the window
(utime+stime of the tree); scrape latency (scheduled scrapes and a sequential probe); wrk
requests/s and p99; CPU per 1000 requests under wrk.

Environment: DURATION (s per agent per repetition), REPS, SCRAPE_INTERVAL, PROBE_COUNT, PROBE_GAP,
WRK_SECONDS, WRK_CONNECTIONS, QUICK=1 (a ~20 s smoke run), AGENTS (comma list), and the binaries
AGENT, NODE_EXPORTER, GLANCES, WRK.
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
DURATION = float(os.environ.get("DURATION", "20" if QUICK else "180"))
REPS = int(os.environ.get("REPS", "1" if QUICK else "2"))
SCRAPE_INTERVAL = float(os.environ.get("SCRAPE_INTERVAL", "5" if QUICK else "15"))
PROBE_COUNT = int(os.environ.get("PROBE_COUNT", "30" if QUICK else "100"))
PROBE_GAP = float(os.environ.get("PROBE_GAP", "0.1"))
WRK_SECONDS = int(os.environ.get("WRK_SECONDS", "3" if QUICK else "10"))
WRK_CONNECTIONS = int(os.environ.get("WRK_CONNECTIONS", "4"))
START_TIMEOUT = 60.0


def _which(env: str, *candidates: str) -> str:
    if os.environ.get(env):
        return os.environ[env]
    for candidate in candidates:
        found = shutil.which(candidate) if "/" not in candidate else candidate
        if found and os.path.exists(found):
            return found
    return ""


AGENT = _which("AGENT", "aiops-agent", "/work/venv/bin/aiops-agent")
NODE_EXPORTER = _which("NODE_EXPORTER", "prometheus-node-exporter", "node_exporter")
GLANCES = _which(
    "GLANCES", os.path.expanduser("~/.cache/aiops-agent/bench-venv/bin/glances"), "glances"
)
WRK = _which("WRK", "wrk")


class Spec:
    def __init__(self, name: str, path: str, marker: bytes) -> None:
        self.name, self.path, self.marker = name, path, marker

    def command(self, port: int, workdir: Path) -> list[str]:
        raise NotImplementedError


class Aiops(Spec):
    def command(self, port: int, workdir: Path) -> list[str]:
        # The default configuration, except where the agent listens and keeps its state, so the
        # benchmark never touches /var/lib or a running agent's port. Whatever `run` does by
        # default (collectors, rules, baselines, alerting) is what gets measured.
        config = workdir / "config.yaml"
        config.write_text(
            f'agent:\n  state_dir: "{workdir / "state"}"\nhttp:\n  listen: "127.0.0.1:{port}"\n'
        )
        return [AGENT, "run", "--config", str(config), "--log-format", "json"]


class AiopsTuned(Aiops):
    """The same agent through bench/variants/agent_variant.py with TUNED_VARIANTS applied: the
    suggested changes, measured under the same schedule as the rest."""

    def command(self, port: int, workdir: Path) -> list[str]:
        cmd = super().command(port, workdir)
        python = os.environ.get("AGENT_PYTHON") or str(Path(AGENT).resolve().parent / "python")
        return [python, str(bl.BENCH / "variants" / "agent_variant.py"), *cmd[1:]]


TUNED_VARIANTS = os.environ.get("TUNED_VARIANTS", "raw_reads,ascii_host")


class NodeExporter(Spec):
    def command(self, port: int, workdir: Path) -> list[str]:
        return [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"]


class Glances(Spec):
    def command(self, port: int, workdir: Path) -> list[str]:
        return [
            GLANCES,
            "-w",
            "--disable-webui",
            "-B",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            str(int(SCRAPE_INTERVAL)),
        ]


SPECS = {
    "aiops-agent": Aiops("aiops-agent", "/metrics", b"\nnode_cpu_seconds_total{"),
    "node_exporter": NodeExporter("node_exporter", "/metrics", b"\nnode_cpu_seconds_total{"),
    "glances": Glances("glances", "/api/4/all", b'"cpu"'),
    "aiops-agent-tuned": AiopsTuned("aiops-agent-tuned", "/metrics", b"\nnode_cpu_seconds_total{"),
}


def version(name: str) -> str:
    try:
        if name.startswith("aiops-agent"):
            cmd = [AGENT, "--version"]
        elif name == "node_exporter":
            cmd = [NODE_EXPORTER, "--version"]
        else:
            cmd = [GLANCES, "-V"]
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=30)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(port: int, path: str) -> dict[str, Any]:
    cmd = [
        WRK,
        "-t1",
        f"-c{WRK_CONNECTIONS}",
        f"-d{WRK_SECONDS}s",
        "--timeout",
        "5s",
        "--latency",
        "-H",
        "Accept-Encoding: gzip",
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=WRK_SECONDS + 60
    ).stdout
    result: dict[str, Any] = {"seconds": WRK_SECONDS, "connections": WRK_CONNECTIONS}
    for q in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        result[f"p{q}_s"] = _seconds(match.group(1)) if match else float("nan")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["requests_per_s"] = float(match.group(1)) if match else 0.0
    match = re.search(r"(\d+) requests in", out)
    result["requests"] = int(match.group(1)) if match else 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(g) for g in match.groups()) if match else 0
    return result


def one_run(spec: Spec, rep: int, slot: int) -> dict[str, Any]:  # noqa: PLR0915
    workdir = Path(tempfile.mkdtemp(prefix=f"aiops-bench-{spec.name}-"))
    port = bl.free_port()
    cmd = spec.command(port, workdir)
    stderr = open(workdir / "stderr.log", "wb")  # noqa: SIM115
    bl.log(f"rep {rep} slot {slot}: {spec.name} on :{port}")
    started = time.perf_counter()
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=stderr,
        stderr=stderr,
        cwd=workdir,
        env={**os.environ, "HOME": str(workdir), "VARIANT": TUNED_VARIANTS},
    )
    record: dict[str, Any] = {
        "agent": spec.name,
        "rep": rep,
        "slot": slot,
        "command": cmd,
        "git": bl.agent_commit(),
    }
    try:
        first = bl.wait_first_good(port, spec.path, spec.marker, started, START_TIMEOUT, process)
        record["start_to_first_good_s"] = first
        if first is None:
            record["error"] = "no good scrape within the start timeout"
            return record
        window_start = time.perf_counter()
        cpu0 = bl.tree_cpu_seconds(process.pid)
        scraper = bl.Scraper(port, spec.path)
        scheduled: list[float] = []
        failures = 0
        samples: list[dict[str, Any]] = []
        page_bytes = 0
        k = 1
        while True:
            due = window_start + k * SCRAPE_INTERVAL
            if due > window_start + DURATION + 1e-6:
                break
            time.sleep(max(0.0, due - time.perf_counter()))
            seconds, status, body = scraper.get()
            if status == 200 and spec.marker in body:
                scheduled.append(seconds)
                page_bytes = len(body)
            else:
                failures += 1
            memory = bl.tree_memory_kib(process.pid)
            samples.append({"t": round(time.perf_counter() - window_start, 3), **memory})
            k += 1
        time.sleep(max(0.0, window_start + DURATION - time.perf_counter()))
        cpu1 = bl.tree_cpu_seconds(process.pid)
        window = time.perf_counter() - window_start
        steady = samples[len(samples) // 2 :] or samples
        record.update(
            window_s=round(window, 3),
            cpu_percent=100.0 * (cpu1 - cpu0) / window,
            rss_kib=bl.median(s["rss_kib"] for s in steady),
            pss_kib=bl.median(s["pss_kib"] for s in steady),
            rss_kib_max=max((s["rss_kib"] for s in samples), default=0),
            processes=max((s["processes"] for s in samples), default=0),
            threads=bl.threads(process.pid),
            memory_samples=samples,
            scheduled_latency_s=scheduled,
            scheduled_failures=failures,
            page_bytes=page_bytes,
        )
        probe: list[float] = []
        probe_failures = 0
        for _ in range(PROBE_COUNT):
            seconds, status, body = scraper.get()
            if status == 200:
                probe.append(seconds)
            else:
                probe_failures += 1
            time.sleep(PROBE_GAP)
        scraper.close()
        record.update(probe_latency_s=probe, probe_failures=probe_failures)
        cpu2 = bl.tree_cpu_seconds(process.pid)
        wrk = run_wrk(port, spec.path)
        cpu3 = bl.tree_cpu_seconds(process.pid)
        wrk["cpu_ms_per_1000_requests"] = (
            1e6 * (cpu3 - cpu2) / wrk["requests"] if wrk["requests"] else float("nan")
        )
        wrk["rss_kib_after"] = bl.tree_memory_kib(process.pid)["rss_kib"]
        record["wrk"] = wrk
        record["alive_at_end"] = process.poll() is None
        return record
    finally:
        record["stopped_cleanly"] = bl.stop(process)
        record["exit_code"] = process.returncode
        stderr.close()
        record["stderr_tail"] = (workdir / "stderr.log").read_text(errors="replace")[-600:]
        shutil.rmtree(workdir, ignore_errors=True)
        time.sleep(2.0)  # let the machine settle between agents


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r.get("cpu_percent") is not None]
    if not good:
        return {"runs": 0}

    def med(key: str) -> float:
        return bl.median(r[key] for r in good)

    scheduled = [x for r in good for x in r["scheduled_latency_s"]]
    probe = [x for r in good for x in r["probe_latency_s"]]
    return {
        "runs": len(good),
        "start_to_first_good_s": med("start_to_first_good_s"),
        "rss_mib": med("rss_kib") / 1024,
        "pss_mib": med("pss_kib") / 1024,
        "rss_mib_max": max(r["rss_kib_max"] for r in good) / 1024,
        "cpu_percent": med("cpu_percent"),
        "cpu_percent_runs": [round(r["cpu_percent"], 4) for r in good],
        "processes": max(r["processes"] for r in good),
        "threads": max(r["threads"] for r in good),
        "page_bytes": med("page_bytes"),
        "scheduled_scrapes": len(scheduled),
        "scheduled_p50_ms": 1e3 * bl.quantile(scheduled, 0.5),
        "scheduled_p99_ms": 1e3 * bl.quantile(scheduled, 0.99),
        "scheduled_failures": sum(r["scheduled_failures"] for r in good),
        "probe_scrapes": len(probe),
        "scrape_p50_ms": 1e3 * bl.quantile(probe, 0.5),
        "scrape_p99_ms": 1e3 * bl.quantile(probe, 0.99),
        "probe_failures": sum(r["probe_failures"] for r in good),
        "wrk_requests_per_s": bl.median(r["wrk"]["requests_per_s"] for r in good),
        "wrk_p50_ms": 1e3 * bl.median(r["wrk"]["p50_s"] for r in good),
        "wrk_p99_ms": 1e3 * bl.median(r["wrk"]["p99_s"] for r in good),
        "wrk_errors": sum(r["wrk"]["non_2xx"] + r["wrk"]["socket_errors"] for r in good),
        "wrk_cpu_ms_per_1000_requests": bl.median(
            r["wrk"]["cpu_ms_per_1000_requests"] for r in good
        ),
    }


RATIO_KEYS = (
    "start_to_first_good_s",
    "rss_mib",
    "pss_mib",
    "cpu_percent",
    "scrape_p50_ms",
    "scrape_p99_ms",
    "scheduled_p50_ms",
    "scheduled_p99_ms",
    "wrk_requests_per_s",
    "wrk_p99_ms",
    "wrk_cpu_ms_per_1000_requests",
)


def paired_ratios(runs: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    """Per repetition a/b (runs of one repetition are minutes apart), then the median over reps."""
    per_rep: dict[str, list[float]] = {}
    reps = sorted({r["rep"] for r in runs})
    for rep in reps:
        ra = [r for r in runs if r["rep"] == rep and r["agent"] == a and "cpu_percent" in r]
        rb = [r for r in runs if r["rep"] == rep and r["agent"] == b and "cpu_percent" in r]
        if not ra or not rb:
            continue
        ga, gb = aggregate(ra), aggregate(rb)
        for key in RATIO_KEYS:
            if gb[key]:
                per_rep.setdefault(key, []).append(ga[key] / gb[key])
    return {k: {"median": bl.median(v), "min": min(v), "max": max(v)} for k, v in per_rep.items()}


def main() -> int:
    default = "aiops-agent,node_exporter,glances"
    names = [n for n in os.environ.get("AGENTS", default).split(",") if n]
    missing = {
        "aiops-agent": AGENT,
        "node_exporter": NODE_EXPORTER,
        "glances": GLANCES,
        "wrk": WRK,
    }
    for name, binary in missing.items():
        if (name in names or name == "wrk") and not binary:
            print(f"overhead: {name} not found (set its variable)", file=sys.stderr)
            return 2
    bl.log(
        f"overhead: {names}, {REPS} reps x {DURATION:g}s, scrape every {SCRAPE_INTERVAL:g}s, "
        f"probe {PROBE_COUNT}x{PROBE_GAP:g}s, wrk {WRK_SECONDS}s c{WRK_CONNECTIONS}"
    )
    runs: list[dict[str, Any]] = []
    document: dict[str, Any] = {
        "benchmark": "overhead",
        "quick": QUICK,
        "settings": {
            "duration_s": DURATION,
            "reps": REPS,
            "scrape_interval_s": SCRAPE_INTERVAL,
            "probe_count": PROBE_COUNT,
            "probe_gap_s": PROBE_GAP,
            "wrk_seconds": WRK_SECONDS,
            "wrk_connections": WRK_CONNECTIONS,
        },
        "machine": bl.machine(),
        "versions": {n: version(n) for n in names},
        "runs": runs,
    }
    for rep in range(REPS):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for slot, name in enumerate(order):
            runs.append(one_run(SPECS[name], rep, slot))
            bl.write_json("overhead.partial.json", document)
    document["summary"] = {n: aggregate([r for r in runs if r["agent"] == n]) for n in names}
    if "aiops-agent-tuned" in names:
        document["tuned_variants"] = TUNED_VARIANTS
    if "aiops-agent-tuned" in names and "node_exporter" in names:
        document["tuned_ratios_vs_node_exporter"] = paired_ratios(
            runs, "aiops-agent-tuned", "node_exporter"
        )
    if "aiops-agent" in names and "node_exporter" in names:
        document["ratios_vs_node_exporter"] = paired_ratios(runs, "aiops-agent", "node_exporter")
        a, b = document["summary"]["aiops-agent"], document["summary"]["node_exporter"]
        if a.get("runs") and b.get("runs"):
            document["targets"] = {
                "rss_at_most_node_exporter": a["rss_mib"] <= b["rss_mib"],
                "cpu_at_most_node_exporter": a["cpu_percent"] <= b["cpu_percent"],
                "scrape_p99_at_most_node_exporter": a["scrape_p99_ms"] <= b["scrape_p99_ms"],
            }
    errors = [r for r in runs if "error" in r or not r.get("alive_at_end", False)]
    document["errors"] = [
        {k: r.get(k) for k in ("agent", "rep", "error", "exit_code", "stderr_tail")} for r in errors
    ]
    path = bl.write_json("overhead.json", document)
    (bl.OUT / "overhead.partial.json").unlink(missing_ok=True)
    bl.log(f"wrote {path}")
    for name, summary in document["summary"].items():
        if summary.get("runs"):
            bl.log(
                f"{name:14s} start {summary['start_to_first_good_s']:.2f}s "
                f"rss {summary['rss_mib']:.1f} MiB pss {summary['pss_mib']:.1f} MiB "
                f"cpu {summary['cpu_percent']:.3f}% scrape p50/p99 {summary['scrape_p50_ms']:.2f}/"
                f"{summary['scrape_p99_ms']:.2f} ms wrk {summary['wrk_requests_per_s']:.0f} rps "
                f"p99 {summary['wrk_p99_ms']:.1f} ms"
            )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
