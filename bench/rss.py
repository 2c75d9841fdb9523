"""Where the running agent's resident memory goes, and before/after figures for changes to it.

    python bench/rss.py breakdown            # one agent built in-process with the default config:
                                             # RSS by start-up stage, by mapping, heap by file,
                                             # and the size of what it keeps (process table,
                                             # baselines, page, families)
    python bench/rss.py compare NAME=DIR[,VAR=VALUE...] ...
                                             # real `run` agents side by side, RUNS of each at
                                             # once: DIR is a tree holding the aiops_agent package
                                             # (a checkout's agent/, or `git archive` of one),
                                             # VAR=VALUE added to that agent's environment

compare runs each agent as `python -m aiops_agent run` with the default config (only http.listen
and agent.state_dir set), scraped every 15 s like Prometheus (gzip), for DURATION; its RSS is the
median of the samples (every 5 s) over the second half, from /proc/PID/smaps_rollup.

Environment: AGENT_PYTHON (a Python with the agent's dependencies; default the repo's
.venv/bin/python), RUNS (3), DURATION (150: ten collections at the default 15 s interval, three
passes over the processes), CYCLES (breakdown: 40, a pass over the processes every 4th).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

AGENT_PYTHON = os.environ.get("AGENT_PYTHON") or str(bl.ROOT / ".venv" / "bin" / "python")
RUNS = int(os.environ.get("RUNS", "3"))
DURATION = float(os.environ.get("DURATION", "150"))
CYCLES = int(os.environ.get("CYCLES", "40"))
SCRAPE_EVERY = 15.0


def write_config(workdir: Path, port: int) -> Path:
    config = workdir / "config.yaml"
    config.write_text(
        f'agent:\n  state_dir: "{workdir / "state"}"\nhttp:\n  listen: "127.0.0.1:{port}"\n'
    )
    return config


# --- compare ---------------------------------------------------------------------------------
def compare(trees: dict[str, str], extra_env: dict[str, dict[str, str]]) -> dict[str, Any]:
    agents: list[dict[str, Any]] = []
    root = Path(tempfile.mkdtemp(prefix="aiops-bench-rss-"))
    try:
        for run in range(RUNS):  # interleaved, so each tree's runs share the same moments
            for name, tree in trees.items():
                work = root / f"{name}-{run}"
                work.mkdir()
                port = bl.free_port()
                env = {**os.environ, "PYTHONPATH": tree, **extra_env[name]}
                where = subprocess.run(
                    [AGENT_PYTHON, "-c", "import aiops_agent; print(aiops_agent.__file__)"],
                    env=env, cwd=work, capture_output=True, text=True, check=True,
                ).stdout.strip()  # fmt: skip
                started = time.perf_counter()
                process = subprocess.Popen(
                    [AGENT_PYTHON, "-m", "aiops_agent", "run", "--config",
                     str(write_config(work, port)), "--log-format", "json"],
                    env=env, cwd=work, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=open(work / "stderr.log", "wb"),  # noqa: SIM115
                )  # fmt: skip
                if bl.wait_first_good(port, "/metrics", b"node_cpu", started, 60, process) is None:
                    raise RuntimeError(f"{name} did not start: {(work / 'stderr.log').read_text()}")
                agents.append(
                    {"name": name, "module": where, "process": process, "started": time.monotonic(),
                     "scraper": bl.Scraper(port, "/metrics"), "scraped": 0.0, "samples": []}
                )  # fmt: skip
        while True:
            now = time.monotonic()
            live = [a for a in agents if now - a["started"] < DURATION]
            if not live:
                break
            for agent in live:
                if now - agent["scraped"] >= SCRAPE_EVERY:
                    agent["scraper"].get()
                    agent["scraped"] = now
                if now - agent["started"] >= DURATION / 2:
                    agent["samples"].append(bl.tree_memory_kib(agent["process"].pid)["rss_kib"])
            time.sleep(5)
    finally:
        for agent in agents:
            agent["scraper"].close()
            bl.stop(agent["process"])
    result: dict[str, Any] = {"seconds": DURATION, "runs": RUNS, "trees": {}}
    for name, tree in trees.items():
        mine = [a for a in agents if a["name"] == name]
        per_run = [bl.median(a["samples"]) for a in mine]
        result["trees"][name] = {
            "tree": tree,
            "env": extra_env[name],
            "module": mine[0]["module"],
            "rss_kib_per_run": per_run,
            "rss_mib_median": round(bl.median(per_run) / 1024, 2),
        }
    return result


# --- breakdown -------------------------------------------------------------------------------
BREAKDOWN_CHILD = r"""
import gc, json, sys, types

def status(*keys):
    with open("/proc/self/status") as handle:
        found = {l.split(":")[0]: int(l.split()[1]) for l in handle if l.split(":")[0] in keys}
    return found

def rss():
    return status("VmRSS")["VmRSS"]

stages = [("interpreter", rss())]
import yaml
stages.append(("yaml", rss()))
from aiops_agent import cli
stages.append(("aiops_agent.cli", rss()))
from aiops_agent.agent import Agent
from aiops_agent.config import load_config
stages.append(("aiops_agent.agent and what it imports", rss()))
import psutil
stages.append(("psutil", rss()))
import aiops_agent.alerting.plugin, aiops_agent.notify
from aiops_agent.collectors import build_collectors
from aiops_agent.collectors.host import HostPaths
config_path, cycles = sys.argv[1], int(sys.argv[2])
config = load_config(config_path, required=True)
build_collectors(config.collectors, HostPaths.under("/"))
stages.append(("alerting, notify and collector modules", rss()))
agent = Agent(config, config_path)
stages.append(("Agent built (plugins, bound HTTP server)", rss()))
for i in range(cycles):
    agent.cycle()
    if i % 4 == 3:  # a pass over the processes every minute at the default 15 s interval
        agent._processes.scan()
gc.collect()
stages.append((f"after {cycles} collections", rss()))

import logging, threading
# shared machinery, not data the agent keeps: never counted
SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
        types.MethodType, types.CodeType, logging.Logger, logging.Handler, threading.Thread)

def deep(obj):
    seen, todo, total = set(), [obj], 0
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, SKIP):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            todo.extend(o.keys()); todo.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            todo.extend(o)
        else:
            d = getattr(o, "__dict__", None)
            if isinstance(d, dict):
                todo.append(d)
            for klass in type(o).__mro__:
                for slot in getattr(klass, "__slots__", ()):
                    if hasattr(o, slot):
                        todo.append(getattr(o, slot))
    return total

table = agent._processes
alerting = agent.plugins.plugins["alerting"]
scorer = alerting._baselines
items = {
    "process table: records": (deep(table.records), len(table.records)),
    "process table: cached psutil.Process objects": (deep(table._procs), len(table._procs)),
    "process table: previous counters": (deep(table._previous), len(table._previous)),
    "process table: rankings": (deep(table._rankings), 0),
    "baselines (PatternDetector and range per series)": (deep(scorer._series), len(scorer)),
    "alerting plugin (rules, rates, alerts, its config) without the baselines": (
        deep(alerting) - deep(scorer._series), 0),
    "host families of the latest collection": (deep(agent._host_families),
                                               len(agent._host_families)),
    "page, rendered": (len(agent._page.body), 0),
    "page, gzip": (len(agent._page.compress(agent._page.body)), 0),
}
memory = status("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads")
mappings = {}
with open("/proc/self/smaps") as handle:
    name = ""
    for line in handle:
        fields = line.split()
        if "-" in fields[0] and ":" not in fields[0]:
            name = fields[5] if len(fields) > 5 else "[anonymous]"
            name = name if name.startswith("[") else name.rsplit("/", 1)[-1]
        elif fields[0] == "Rss:":
            mappings[name] = mappings.get(name, 0) + int(fields[1])
top_mappings = sorted(mappings.items(), key=lambda kv: -kv[1])[:15]
print(json.dumps({"stages_kib": stages, "status_kib": memory, "items_bytes": items,
                  "mappings_kib": top_mappings, "series": len(agent._page.body.splitlines())}))
"""

HEAP_CHILD = r"""
import sys, tracemalloc
from aiops_agent.agent import Agent
from aiops_agent.config import load_config
config_path, cycles = sys.argv[1], int(sys.argv[2])
agent = Agent(load_config(config_path, required=True), config_path)
for i in range(cycles):
    agent.cycle()
    if i % 4 == 3:
        agent._processes.scan()
import gc, json
gc.collect()
snapshot = tracemalloc.take_snapshot()
by_file = {}
for stat in snapshot.statistics("filename"):
    path = stat.traceback[0].filename
    key = path.split("site-packages/")[-1].split("/agent/")[-1].split("/lib/python3")[-1]
    by_file[key] = by_file.get(key, 0) + stat.size
print(json.dumps({"traced_bytes": tracemalloc.get_traced_memory()[0],
                  "by_file": sorted(by_file.items(), key=lambda kv: -kv[1])[:30]}))
"""


def breakdown() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aiops-bench-rss-") as work:
        config = str(write_config(Path(work), 0))
        result: dict[str, Any] = {}
        for child, flags in ((BREAKDOWN_CHILD, []), (HEAP_CHILD, ["-X", "tracemalloc=1"])):
            out = subprocess.run(
                [AGENT_PYTHON, *flags, "-c", child, config, str(CYCLES)],
                capture_output=True, text=True, check=False, timeout=900,
            )  # fmt: skip
            if out.returncode:
                raise RuntimeError(out.stderr[-3000:])
            result.update(json.loads(out.stdout.strip().splitlines()[-1]))
    return result


def main() -> int:
    if sys.argv[1:2] == ["breakdown"]:
        print(json.dumps(breakdown(), indent=1))
        return 0
    if sys.argv[1:2] == ["compare"] and len(sys.argv) > 2:
        trees, extra_env = {}, {}
        for argument in sys.argv[2:]:
            first, *variables = argument.split(",")
            name, tree = first.split("=", 1)
            trees[name] = tree
            extra_env[name] = dict(variable.split("=", 1) for variable in variables)
        print(json.dumps(compare(trees, extra_env), indent=1))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
