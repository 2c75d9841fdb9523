"""Where aiops-agent spends its start-up, memory, collection and scrape time.

1. Imports: `python -X importtime` of a real `aiops-agent run` (the default config, so whatever
   plugins it loads count), repeated; the modules with the largest self time; the stdlib modules
   it loads and what each costs in RSS on its own (over a psutil+yaml base).
2. Collection: the agent built in-process with the default config and `cycle()` run repeatedly:
   wall time per cycle and per collector, render time, allocations per cycle (tracemalloc), and a
   cProfile of the cycles (functions by own time).
3. Repeated reads: strace of a running agent (interval 1 s): files opened per collection, and
   any opened more than once in one collection.
4. Live process: py-spy samples of a running agent (interval 1 s) while wrk loads /metrics.

Environment: AGENT (the aiops-agent script), AGENT_PYTHON, PY_SPY, QUICK=1, CYCLES (200).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

QUICK = os.environ.get("QUICK", "") not in ("", "0")
CYCLES = int(os.environ.get("CYCLES", "40" if QUICK else "200"))
IMPORT_RUNS = 3 if QUICK else 7
AGENT = os.environ.get("AGENT") or shutil.which("aiops-agent") or "/work/venv/bin/aiops-agent"
AGENT_PYTHON = os.environ.get("AGENT_PYTHON") or str(Path(AGENT).resolve().parent / "python")
PY_SPY = (
    os.environ.get("PY_SPY")
    or shutil.which("py-spy")
    or os.path.expanduser("~/.cache/aiops-agent/bench-venv/bin/py-spy")
)
VARIANT_WRAPPER = str(Path(__file__).resolve().parent / "variants" / "agent_variant.py")


def write_config(workdir: Path, port: int, interval: str = "") -> Path:
    config = workdir / "config.yaml"
    text = f'agent:\n  state_dir: "{workdir / "state"}"\n'
    if interval:
        text += f"  interval: {interval}\n"
    text += f'http:\n  listen: "127.0.0.1:{port}"\n'
    config.write_text(text)
    return config


def start_agent(
    workdir: Path, interval: str = "", prefix: tuple[str, ...] = (), env: Any = None
) -> tuple[subprocess.Popen[bytes], int, float]:
    port = bl.free_port()
    config = write_config(workdir, port, interval)
    log = open(workdir / "stderr.log", "wb")  # noqa: SIM115
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            *prefix,
            AGENT_PYTHON,
            *(["-X", "importtime"] if "importtime" in (env or {}) else []),
            VARIANT_WRAPPER,
            "run",
            "--config",
            str(config),
            "--log-format",
            "json",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    first = bl.wait_first_good(port, "/metrics", b"node_cpu", started, 60, process)
    if first is None:
        bl.stop(process)
        raise RuntimeError("agent did not start: " + (workdir / "stderr.log").read_text()[-2000:])
    return process, port, first


# --- 1. imports -----------------------------------------------------------------------------
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def imports() -> dict[str, Any]:
    self_us: dict[str, list[int]] = {}
    cumulative: dict[str, list[int]] = {}
    parent_of: dict[str, str] = {}
    totals = []
    starts = []
    for _ in range(IMPORT_RUNS):
        work = Path(tempfile.mkdtemp(prefix="aiops-bench-imp-"))
        try:
            process, _, first = start_agent(work, env={"importtime": "1"})
            starts.append(first)
            bl.stop(process)
            lines = (work / "stderr.log").read_text(errors="replace").splitlines()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        stack: list[tuple[int, str]] = []
        total = 0
        # importtime prints children before their parent, each indented two more spaces
        pending: list[tuple[int, str]] = []
        order: list[tuple[int, str]] = []
        for line in lines:
            match = _IMPORT_LINE.match(line)
            if not match:
                continue
            own, cum, indent, name = int(match[1]), int(match[2]), len(match[3]), match[4]
            self_us.setdefault(name, []).append(own)
            cumulative.setdefault(name, []).append(cum)
            depth = (indent - 1) // 2
            # everything pending at depth+1 is a child of this one
            while pending and pending[-1][0] > depth:
                parent_of.setdefault(pending.pop()[1], name)
            pending.append((depth, name))
            order.append((depth, name))
            if depth == 0:
                total += cum
        del stack
        totals.append(total)
    modules = sorted(self_us, key=lambda n: -bl.median(self_us[n]))

    def top_parent(name: str) -> str:
        """The nearest aiops_agent module that (transitively) imported `name`."""
        seen = set()
        while name in parent_of and name not in seen:
            seen.add(name)
            name = parent_of[name]
            if name.startswith("aiops_agent"):
                return name
        return ""

    stdlib_top = sorted(
        {
            m.split(".")[0]
            for m in self_us
            if not m.startswith(("aiops_agent", "yaml", "_", "encodings"))
        }
    )
    # what each module imported first (its subtree in importtime's post-order listing)
    subtree: dict[str, list[str]] = {}
    for i, (depth, name) in enumerate(order):
        j, members = i - 1, []
        while j >= 0 and order[j][0] > depth:
            members.append(order[j][1])
            j -= 1
        subtree[name] = [name, *members]
    direct = sorted(
        name
        for depth, name in order
        if not name.startswith(("aiops_agent", "yaml", "encodings.utf", "agent_variant"))
        and (parent_of.get(name, "").startswith("aiops_agent") or depth == 0)
    )
    return {
        "runs": IMPORT_RUNS,
        "loaded_in_order": [n for _, n in order],
        "direct_stdlib_imports": {n: subtree[n] for n in direct},
        "start_to_first_good_s_median": bl.median(starts),
        "import_total_ms_median": bl.median(totals) / 1e3,
        "modules_loaded": len(self_us),
        "top_self_ms": [
            {
                "module": m,
                "self_ms": bl.median(self_us[m]) / 1e3,
                "cumulative_ms": bl.median(cumulative[m]) / 1e3,
                "imported_by": top_parent(m),
            }
            for m in modules[:20]
        ],
        "aiops_modules_cumulative_ms": sorted(
            (
                {"module": m, "cumulative_ms": bl.median(cumulative[m]) / 1e3}
                for m in self_us
                if m.startswith("aiops_agent")
            ),
            key=lambda e: -e["cumulative_ms"],
        )[:15],
        "stdlib_top_level": stdlib_top,
        "first_importer": {m: top_parent(m) for m in stdlib_top},
    }


def rss_of(code: str, runs: int = 3) -> int:
    best = 1 << 40
    for _ in range(runs):
        out = subprocess.run(
            [
                AGENT_PYTHON,
                "-c",
                code + "\nimport re as _r\n"
                "print([l for l in open('/proc/self/status')"
                " if l.startswith('VmRSS')][0].split()[1])",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        best = min(best, int(out.stdout.split()[-1]))
    return best


REMOVAL_CHILD = r"""
import importlib, sys
for name in sys.argv[1].split(","):
    if name:
        try:
            importlib.import_module(name)
        except Exception:
            pass
print(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
"""


def removal_savings(loaded: list[str], direct: dict[str, list[str]]) -> list[dict[str, Any]]:
    """RSS of importing every non-agent module the agent loads, minus the same without one direct
    import's subtree (modules still needed by others are imported anyway): what importing that
    module lazily, only where used, would save, if no other module needs it."""
    others = [
        n
        for n in loaded
        if not n.startswith(("aiops_agent", "agent_variant", "__main__", "sitecustomize"))
    ]

    def rss(names: list[str]) -> int:
        best = 1 << 40
        for _ in range(3):
            out = subprocess.run(
                [AGENT_PYTHON, "-c", REMOVAL_CHILD, ",".join(names)],
                capture_output=True,
                text=True,
                check=True,
            )
            best = min(best, int(out.stdout.split()[-1]))
        return best

    full = rss(others)
    rows = []
    for module, members in direct.items():
        drop = set(members)
        saved = full - rss([n for n in others if n not in drop])
        rows.append({"module": module, "saves_kib": saved, "subtree": len(members)})
    rows.sort(key=lambda r: -r["saves_kib"])
    return [{"all_non_agent_modules_kib": full}, *rows[:20]]


def import_rss(stdlib_top: list[str]) -> dict[str, Any]:
    base = rss_of("import yaml")
    bare = rss_of("pass")
    agent_all = rss_of(
        "import yaml\nfrom aiops_agent.cli import main\nfrom aiops_agent.agent import Agent\n"
        "from aiops_agent.config import load_config\n"
        "from aiops_agent.pluginhost import load_plugins\n"
        "from aiops_agent.collectors import build_collectors\n"
        "from aiops_agent.collectors.host import HostPaths\n"
        "c = load_config(None)\nbuild_collectors(c.collectors, HostPaths.under('/'))\n"
        "import tempfile\nload_plugins(c, tempfile.mkdtemp())"
    )
    marginal = []
    for module in stdlib_top:
        if module in (
            "builtins",
            "sys",
            "re",
            "os",
            "site",
            "abc",
            "codecs",
            "io",
            "stat",
            "posixpath",
            "genericpath",
            "zipimport",
            "marshal",
            "posix",
            "time",
        ):
            continue  # always loaded
        try:
            rss = rss_of(f"import yaml\nimport {module}")
        except subprocess.CalledProcessError:
            continue
        marginal.append({"module": module, "rss_kib": rss - base})
    marginal.sort(key=lambda e: -e["rss_kib"])
    tls = rss_of("import yaml\nimport ssl, hashlib, hmac") - base
    return {
        "bare_python_kib": bare,
        "yaml_kib": base,
        "agent_modules_and_plugins_kib": agent_all,
        "marginal_kib_over_yaml": marginal[:20],
        "ssl_hashlib_hmac_together_kib": tls,
    }


# --- 2. collection in-process ---------------------------------------------------------------
CYCLE_CHILD = r"""
import cProfile, gc, json, pstats, sys, time, tracemalloc, io
from aiops_agent.config import load_config
from aiops_agent.agent import Agent
config_path, cycles = sys.argv[1], int(sys.argv[2])
CURVE = [int(x) for x in sys.argv[3].split(",")]
agent = Agent(load_config(config_path, required=True), config_path)
for _ in range(3):
    agent.cycle()
walls, renders, per = [], [], {}
for _ in range(cycles):
    t = time.perf_counter()
    agent.cycle()
    walls.append(time.perf_counter() - t)
    for name, st in agent.stats.collectors.items():
        per.setdefault(name, []).append(st.duration)
    t = time.perf_counter()
    agent._render()
    renders.append(time.perf_counter() - t)
gc.collect()
tracemalloc.start(25)
before = tracemalloc.take_snapshot()
base_current = tracemalloc.get_traced_memory()[0]
tracemalloc.reset_peak()
agent.cycle()
peak = tracemalloc.get_traced_memory()[1] - base_current
for _ in range(9):
    agent.cycle()
gc.collect()
after = tracemalloc.take_snapshot()
growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
top_growth = [
    {"where": str(s.traceback[0]), "kib": round(s.size_diff / 1024, 1), "count": s.count_diff}
    for s in after.compare_to(before, "lineno")[:8]
]
tracemalloc.stop()
profiler = cProfile.Profile()
profiler.enable()
for _ in range(cycles):
    agent.cycle()
profiler.disable()
stats = pstats.Stats(profiler)
total = sum(v[2] for v in stats.stats.values())
rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:25]
def fn(k):
    f, line, name = k
    f = f.split("site-packages/")[-1].split("/agent/")[-1]
    return f"{f}:{line}({name})"
top = [{"function": fn(k), "calls_per_cycle": v[1] / cycles,
        "own_ms_per_cycle": 1e3 * v[2] / cycles,
        "own_share": v[2] / total, "cum_ms_per_cycle": 1e3 * v[3] / cycles} for k, v in rows]
# memory over many cycles: does it level off (bounded history) or keep growing (a leak)?
def rss_kib():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])
done = 3 + 2 * cycles + 10
memory_curve = [{"cycles": done, "rss_kib": rss_kib(), "gc_objects": len(gc.get_objects())}]
for target in CURVE:
    while done < target:
        agent.cycle()
        done += 1
    gc.collect()
    memory_curve.append({"cycles": done, "rss_kib": rss_kib(), "gc_objects": len(gc.get_objects())})
walls.sort(); renders.sort()
page = agent._page.body
print(json.dumps({
    "cycles": cycles,
    "cycle_ms_median": 1e3 * walls[len(walls) // 2],
    "cycle_ms_p90": 1e3 * walls[int(len(walls) * 0.9)],
    "render_ms_median": 1e3 * renders[len(renders) // 2],
    "collectors_ms_median": dict(sorted(
        ((n, 1e3 * sorted(v)[len(v) // 2]) for n, v in per.items()), key=lambda kv: -kv[1])),
    "alloc_peak_kib_per_cycle": peak / 1024,
    "net_growth_kib_over_10_cycles": growth / 1024,
    "top_growth": top_growth,
    "page_bytes": len(page),
    "series": sum(1 for l in page.splitlines() if l and not l.startswith(b"#")),
    "plugins": [getattr(p, "name", type(p).__name__) for p in agent.plugins],
    "cprofile_top_own_time": top,
    "cprofile_total_ms_per_cycle": 1e3 * total / cycles,
    "memory_curve": memory_curve,
}))
"""


def collection() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="aiops-bench-cyc-"))
    try:
        config = write_config(work, 0)
        out = subprocess.run(
            [
                AGENT_PYTHON,
                "-c",
                CYCLE_CHILD,
                str(config),
                str(CYCLES),
                "500,1000" if QUICK else "500,1000,2000,4000,6000",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if out.returncode:
            return {"error": out.stderr[-3000:]}
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- 3. strace ------------------------------------------------------------------------------
def repeated_reads() -> dict[str, Any]:
    if not shutil.which("strace"):
        return {"error": "strace not installed"}
    work = Path(tempfile.mkdtemp(prefix="aiops-bench-st-"))
    trace = work / "trace"
    seconds = 6 if QUICK else 12
    try:
        process, port, _ = start_agent(work, interval="1s")
        time.sleep(2)
        page0 = fetch(port)
        tracer = subprocess.Popen(
            [
                "strace",
                "-f",
                "-qq",
                "-e",
                "trace=openat,statfs,statx,newfstatat,readlink",
                "-o",
                str(trace),
                "-p",
                str(process.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(seconds)
        tracer.terminate()
        tracer.wait(10)
        page1 = fetch(port)
        bl.stop(process)
        collections = bl.metric_value(page1, "aiops_agent_collections_total") - bl.metric_value(
            page0, "aiops_agent_collections_total"
        )
        calls: Counter[str] = Counter()
        paths: Counter[str] = Counter()
        for line in trace.read_text(errors="replace").splitlines():
            match = re.search(r"(\w+)\((?:AT_FDCWD, )?\"([^\"]+)\"", line)
            if not match:
                continue
            calls[match[1]] += 1
            # fold per-PID paths so /proc/123/stat and /proc/456/stat count as one kind
            paths[re.sub(r"/proc/\d+/", "/proc/PID/", match[2])] += 1
        per = max(collections, 1)
        # the trace window is not aligned on collections: allow one collection of slack
        repeated = {
            p: round(n / per, 2)
            for p, n in paths.items()
            if not p.startswith("/proc/PID/") and n / per > 1.5
        }
        return {
            "seconds": seconds,
            "collections": collections,
            "syscalls_per_collection": {k: round(v / per, 1) for k, v in calls.most_common()},
            "distinct_paths": len(paths),
            "proc_pid_opens_per_collection": round(
                sum(n for p, n in paths.items() if p.startswith("/proc/PID/")) / per, 1
            ),
            "paths_more_than_once_per_collection": dict(
                sorted(repeated.items(), key=lambda kv: -kv[1])[:20]
            ),
            "top_paths_per_collection": {p: round(n / per, 2) for p, n in paths.most_common(15)},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch(port: int) -> bytes:
    scraper = bl.Scraper(port, "/metrics")
    _, _, body = scraper.get()
    scraper.close()
    return body


# --- 5. CPU budget ---------------------------------------------------------------------------
def idle_cpu(variant: str = "") -> dict[str, Any]:
    """CPU of an agent that neither collects (interval 1 h, after its first collection) nor is
    scraped: the cost of its threads waking up."""
    work = Path(tempfile.mkdtemp(prefix="aiops-bench-idle-"))
    seconds = 10 if QUICK else 40
    try:
        process, _, _ = start_agent(work, interval="3600s", env={"VARIANT": variant})
        time.sleep(3)
        cpu0 = bl.tree_cpu_ns(process.pid)
        switches0 = _switches(process.pid)
        time.sleep(seconds)
        cpu1 = bl.tree_cpu_ns(process.pid)
        switches1 = _switches(process.pid)
        bl.stop(process)
        return {
            "variant": variant or "unchanged",
            "seconds": seconds,
            "cpu_percent": 100 * (cpu1 - cpu0) / 1e9 / seconds,
            "wakeups_per_s": (switches1 - switches0) / seconds,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _switches(pid: int) -> int:
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# --- 4. py-spy ------------------------------------------------------------------------------
def pyspy() -> dict[str, Any]:
    if not os.path.exists(PY_SPY):
        return {"error": "py-spy not installed"}
    work = Path(tempfile.mkdtemp(prefix="aiops-bench-spy-"))
    seconds = 8 if QUICK else 20
    results: dict[str, Any] = {"seconds": seconds}
    try:
        for phase in ("collection", "scrape_load"):
            process, port, _ = start_agent(work, interval="1s")
            time.sleep(2)
            raw = work / f"{phase}.txt"
            spy = subprocess.Popen(
                [
                    PY_SPY,
                    "record",
                    "--pid",
                    str(process.pid),
                    "--duration",
                    str(seconds),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if phase == "scrape_load":
                time.sleep(1)
                subprocess.run(
                    [
                        "wrk",
                        "-t1",
                        "-c4",
                        f"-d{seconds - 3}s",
                        "-H",
                        "Accept-Encoding: gzip",
                        f"http://127.0.0.1:{port}/metrics",
                    ],
                    capture_output=True,
                    check=False,
                    timeout=seconds + 30,
                )
            spy.wait(seconds + 60)
            bl.stop(process)
            if raw.exists():
                results[phase] = summarize_stacks(raw.read_text(errors="replace"))
                if shutil.which("flamegraph.pl"):
                    pass
                (bl.OUT / "profile").mkdir(parents=True, exist_ok=True)
                shutil.copy(raw, bl.OUT / "profile" / f"pyspy-{phase}.txt")
            else:
                results[phase] = {"error": "py-spy wrote nothing"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def summarize_stacks(text: str) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    idle_names = (
        "wait (threading.py",
        "select (selectors.py",
        "_wait_for_tstate_lock",
        "serve_forever",
        "readinto (socket.py",
        "_worker (concurrent",
    )
    busy = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        if any(name in leaf for name in idle_names) or leaf.startswith(("process ", "thread ")):
            continue
        busy += count
        own[_short(leaf)] += count
        for frame in set(map(_short, frames)):
            if not frame.startswith(("process ", "thread ")):
                inclusive[frame] += count
    return {
        "samples": total,
        "busy_samples": busy,
        "top_own": [
            {"frame": f, "share_of_busy": round(n / max(busy, 1), 3)}
            for f, n in own.most_common(15)
        ],
        "top_inclusive": [
            {"frame": f, "share_of_busy": round(n / max(busy, 1), 3)}
            for f, n in inclusive.most_common(20)
        ],
    }


def _short(frame: str) -> str:
    frame = re.sub(r"\(/[^)]*/(site-packages|lib/python3\.\d+|agent)/", "(", frame)
    return frame


def main() -> int:
    document: dict[str, Any] = {"benchmark": "profile", "quick": QUICK, "machine": bl.machine()}
    bl.log("profile: imports")
    document["imports"] = imports()
    bl.log("profile: import RSS")
    document["import_rss"] = import_rss(document["imports"]["stdlib_top_level"])
    bl.log("profile: what lazy imports would save")
    document["import_rss"]["lazy_import_savings"] = removal_savings(
        document["imports"]["loaded_in_order"], document["imports"]["direct_stdlib_imports"]
    )
    bl.log("profile: collection cycles in-process")
    document["collection"] = collection()
    bl.log("profile: strace")
    document["repeated_reads"] = repeated_reads()
    bl.log("profile: idle CPU")
    document["idle_cpu"] = [idle_cpu("")]
    bl.log("profile: py-spy")
    document["pyspy"] = pyspy()
    path = bl.write_json("profile.json", document)
    bl.log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
