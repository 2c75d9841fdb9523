"""Cost growth with the size of the host: CPU per collection and RSS of aiops-agent (and, for
reference, CPU per scrape and RSS of node_exporter) with 1, 10 and 100 extra mount points and
network interfaces.

The script re-executes itself inside new mount and network namespaces (`unshare --mount --net`,
private propagation), brings up loopback there, mounts a fresh sysfs so /sys/class/net shows that
namespace, and adds tmpfs mounts and dummy interfaces. The host's own mounts and network are never
changed; everything disappears with the namespaces. Needs root.

Environment: COUNTS (default 1,10,100), REPS (2), WINDOW (s per measurement, 30; QUICK=1: 8),
AGENT, NODE_EXPORTER.
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
COUNTS = [int(c) for c in os.environ.get("COUNTS", "1,10,100").split(",")]
REPS = int(os.environ.get("REPS", "1" if QUICK else "2"))
WINDOW = float(os.environ.get("WINDOW", "8" if QUICK else "30"))
AGENT = os.environ.get("AGENT") or shutil.which("aiops-agent") or "/work/venv/bin/aiops-agent"
NODE_EXPORTER = os.environ.get("NODE_EXPORTER") or shutil.which("prometheus-node-exporter") or ""


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


LINK_KINDS = ("dummy", "bridge")  # dummy needs its kernel module; a bridge is one plain netdev too
_link_kind: list[str] = []


def add_link(name: str) -> None:
    for kind in _link_kind or LINK_KINDS:
        if subprocess.run(
            ["ip", "link", "add", name, "type", kind], check=False, capture_output=True
        ).returncode:
            continue
        if not _link_kind:
            _link_kind.append(kind)
        sh("ip", "link", "set", name, "up")
        return
    raise RuntimeError(f"cannot create interface {name} of any kind {LINK_KINDS}")


def grow(base: Path, have: int, want: int) -> None:
    for i in range(have, want):
        point = base / f"m{i}"
        point.mkdir()
        sh("mount", "-t", "tmpfs", "-o", "size=1m", f"benchfs{i}", str(point))
        add_link(f"bench{i}")


def fetch(port: int) -> bytes:
    scraper = bl.Scraper(port, "/metrics")
    _, status, body = scraper.get()
    scraper.close()
    return body if status == 200 else b""


def collector_ms(page: bytes) -> dict[str, float]:
    """aiops_agent_collector_duration_seconds of the latest collection, per collector (ms)."""
    found = re.findall(
        rb'^aiops_agent_collector_duration_seconds\{collector="([^"]+)"\} (\S+)$', page, re.M
    )
    return {name.decode(): 1e3 * float(value) for name, value in found}


def measure_agent(workdir: Path) -> dict[str, Any]:
    port = bl.free_port()
    config = workdir / "agent.yaml"
    config.write_text(
        f'agent:\n  interval: 1s\n  state_dir: "{workdir / "state"}"\n'
        f'http:\n  listen: "127.0.0.1:{port}"\n'
    )
    with open(workdir / "agent.log", "wb") as log:
        process = subprocess.Popen(
            [AGENT, "run", "--config", str(config), "--log-format", "json"],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    try:
        started = time.perf_counter()
        if bl.wait_first_good(port, "/metrics", b"node_cpu", started, 60, process) is None:
            return {"error": "agent did not start"}
        time.sleep(3.0)  # a few collections first: steady state
        page0 = fetch(port)
        cpu0 = bl.tree_cpu_ns(process.pid)
        time.sleep(WINDOW)
        page1 = fetch(port)
        cpu1 = bl.tree_cpu_ns(process.pid)
        collections = bl.metric_value(page1, "aiops_agent_collections_total") - bl.metric_value(
            page0, "aiops_agent_collections_total"
        )
        memory = bl.tree_memory_kib(process.pid)
        return {
            "cpu_ms_per_collection": (cpu1 - cpu0) / 1e6 / collections,
            "collections": collections,
            "cycle_ms": 1e3 * bl.metric_value(page1, "aiops_agent_collection_duration_seconds"),
            "rss_kib": memory["rss_kib"],
            "pss_kib": memory["pss_kib"],
            "series": bl.series_count(page1),
            "page_bytes": len(page1),
            "collector_ms": collector_ms(page1),
        }
    finally:
        bl.stop(process)


def measure_node_exporter(workdir: Path) -> dict[str, Any]:
    port = bl.free_port()
    process = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        started = time.perf_counter()
        if bl.wait_first_good(port, "/metrics", b"node_cpu", started, 60, process) is None:
            return {"error": "node_exporter did not start"}
        scraper = bl.Scraper(port, "/metrics")
        for _ in range(3):
            scraper.get()
        cpu0 = bl.tree_cpu_ns(process.pid)
        end = time.perf_counter() + WINDOW
        scrapes, page = 0, b""
        while time.perf_counter() < end:  # one scrape per second, like the agent's collections
            tick = time.perf_counter()
            _, status, page = scraper.get()
            scrapes += status == 200
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
        cpu1 = bl.tree_cpu_ns(process.pid)
        scraper.close()
        memory = bl.tree_memory_kib(process.pid)
        return {
            "cpu_ms_per_scrape": (cpu1 - cpu0) / 1e6 / scrapes,
            "scrapes": scrapes,
            "rss_kib": memory["rss_kib"],
            "pss_kib": memory["pss_kib"],
            "series": bl.series_count(page),
            "page_bytes": len(page),
        }
    finally:
        bl.stop(process)


def inside() -> int:
    """Runs in the new namespaces."""
    sh("ip", "link", "set", "lo", "up")
    sh("mount", "-t", "sysfs", "sysfs", "/sys")
    base = Path(tempfile.mkdtemp(prefix="aiops-bench-growth-"))
    sh("mount", "-t", "tmpfs", "-o", "size=4m", "benchroot", str(base))
    rows: list[dict[str, Any]] = []
    have = 0
    try:
        for count in COUNTS:
            grow(base, have, count)
            have = count
            for rep in range(REPS):
                order = ["aiops-agent", "node_exporter"]
                if rep % 2:
                    order.reverse()
                for name in order:
                    bl.log(f"host growth: {count} mounts+interfaces, rep {rep}, {name}")
                    work = Path(tempfile.mkdtemp(prefix="aiops-bench-g-"))
                    try:
                        if name == "aiops-agent":
                            result = measure_agent(work)
                        else:
                            result = measure_node_exporter(work)
                    finally:
                        shutil.rmtree(work, ignore_errors=True)
                    rows.append({"count": count, "rep": rep, "agent": name, **result})
                    print("ROW " + repr(rows[-1]), flush=True)
    finally:
        subprocess.run(["umount", "-R", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)
    import json  # noqa: PLC0415

    Path(os.environ["GROWTH_ROWS"]).write_text(
        json.dumps({"rows": rows, "link_kind": _link_kind[0] if _link_kind else None})
    )
    return 0


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, cpu_key in (
        ("aiops-agent", "cpu_ms_per_collection"),
        ("node_exporter", "cpu_ms_per_scrape"),
    ):
        points = []
        for count in COUNTS:
            mine = [r for r in rows if r["agent"] == name and r["count"] == count and cpu_key in r]
            if not mine:
                continue
            breakdown: dict[str, list[float]] = {}
            for r in mine:
                for collector, ms in r.get("collector_ms", {}).items():
                    breakdown.setdefault(collector, []).append(ms)
            points.append(
                {
                    "collector_ms": {
                        c: bl.median(v)
                        for c, v in sorted(breakdown.items(), key=lambda kv: -bl.median(kv[1]))
                    },
                    "count": count,
                    "cpu_ms": bl.median(r[cpu_key] for r in mine),
                    "rss_mib": bl.median(r["rss_kib"] for r in mine) / 1024,
                    "series": max(r["series"] for r in mine),
                }
            )
        if len(points) < 2:
            continue
        xs = [p["count"] for p in points]
        cpu = [p["cpu_ms"] for p in points]
        rss = [p["rss_mib"] for p in points]
        _, cpu_per_unit = bl.linear_fit(xs, cpu)
        _, rss_per_unit = bl.linear_fit(xs, rss)
        # The log-log slope of the *added* cost (cost minus the fixed part at the smallest size)
        # against the added units tells the order of growth; the slope of the total cost is
        # diluted by the fixed part and always looks flat.
        extra_cpu = [max(c - cpu[0], 1e-9) for c in cpu[1:]]
        summary[name] = {
            "points": points,
            "cpu_ms_per_added_unit": cpu_per_unit,
            "rss_kib_per_added_unit": 1024 * rss_per_unit,
            "loglog_slope_cpu_total": bl.loglog_slope(xs, cpu),
            "loglog_slope_rss_total": bl.loglog_slope(xs, rss),
            "loglog_slope_cpu_added": (
                bl.loglog_slope([x - xs[0] for x in xs[1:]], extra_cpu)
                if len(points) >= 3
                else None
            ),
        }
        slope = summary[name]["loglog_slope_cpu_added"]
        summary[name]["verdict_cpu"] = bl.growth_verdict(slope) if slope is not None else "?"
        summary[name]["verdict_rss"] = bl.growth_verdict(summary[name]["loglog_slope_rss_total"])
    return summary


def main() -> int:
    if "--inside" in sys.argv:
        return inside()
    if os.geteuid() != 0:
        print("growth_host: needs root (namespaces, mounts)", file=sys.stderr)
        return 2
    rows_file = Path(tempfile.mkstemp(prefix="aiops-bench-rows-", suffix=".json")[1])
    env = {
        **os.environ,
        "GROWTH_ROWS": str(rows_file),
        "AGENT": AGENT,
        "NODE_EXPORTER": NODE_EXPORTER,
    }
    code = subprocess.run(
        [
            "unshare",
            "--mount",
            "--net",
            "--propagation",
            "private",
            "--",
            sys.executable,
            __file__,
            "--inside",
        ],
        env=env,
        check=False,
    ).returncode
    if code != 0:
        return code
    import json  # noqa: PLC0415

    inner = json.loads(rows_file.read_text())
    rows_file.unlink()
    rows = inner["rows"]
    document = {
        "benchmark": "growth_host",
        "quick": QUICK,
        "settings": {
            "counts": COUNTS,
            "reps": REPS,
            "window_s": WINDOW,
            "agent_interval_s": 1,
            "interface_kind": inner["link_kind"],
        },
        "machine": bl.machine(),
        "rows": rows,
        "summary": summarize(rows),
    }
    path = bl.write_json("growth_host.json", document)
    bl.log(f"wrote {path}")
    for name, s in document["summary"].items():
        bl.log(
            f"{name}: "
            + ", ".join(
                f"{p['count']}: {p['cpu_ms']:.2f} ms {p['rss_mib']:.1f} MiB {p['series']} series"
                for p in s["points"]
            )
            + f"; {s['cpu_ms_per_added_unit']:.3f} ms/unit, cpu {s['verdict_cpu']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
