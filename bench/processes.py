"""Cost of the process layer (psutil): the agent without it, with the top-processes view, and
with the view plus process groups, beside Debian's prometheus-process-exporter with the same
groups, at 100, 1 000 and 5 000 extra processes (spawned sleepers), side by side in one run.

Per setting and process count: CPU seconds per collection (utime+stime of the process over the
window, divided by the collections it made: the agent's own collection count; process-exporter
collects on each scrape), the process table's pass alone (the agent's
aiops_agent_collector_duration_seconds{collector="process_table"}, median), and RSS at the end.
Groups: every process with a command line, grouped by command name ({{.Comm}}), the same
process_names for both. process-exporter runs with -threads=false -gather-smaps=false
-children=false, so it reads what the agent reads (no per-thread series, no smaps).

Environment: COUNTS (comma list, default 100,1000,5000), INTERVAL (s between collections, 5),
WINDOW (s per setting, 40), QUICK=1 (COUNTS=100, WINDOW=15), AGENT, PROCESS_EXPORTER, SETTINGS
(comma list of the settings below, default all), SLEEPER_UID (run as root: the sleepers run as
this uid, a busy non-root user whose RLIMIT_NPROC the pass reads; root's own are exempt).
Writes bench/out/processes.json and prints the Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import json
import math
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
COUNTS = [int(c) for c in os.environ.get("COUNTS", "100" if QUICK else "100,1000,5000").split(",")]
INTERVAL = float(os.environ.get("INTERVAL", "5"))
WINDOW = float(os.environ.get("WINDOW", "15" if QUICK else "40"))
AGENT = os.environ.get("AGENT") or shutil.which("aiops-agent") or ""
PROCESS_EXPORTER = os.environ.get("PROCESS_EXPORTER") or shutil.which(
    "prometheus-process-exporter"
) or ""  # fmt: skip
SETTINGS = ["agent", "agent+view", "agent+view+groups", "process-exporter"]
SETTINGS = os.environ.get("SETTINGS", ",".join(SETTINGS)).split(",")
SLEEPER_UID = int(os.environ.get("SLEEPER_UID", "-1"))
GROUPS = [{"name": "{{.Comm}}", "cmdline": [".+"]}]
TABLE_SECONDS = r'^aiops_agent_collector_duration_seconds\{collector="process_table"\} (\S+)'


def agent_config(directory: Path, port: int, view: bool, groups: bool) -> Path:
    import yaml  # noqa: PLC0415 - the agent's venv has it

    config: dict[str, Any] = {
        "agent": {"interval": INTERVAL, "state_dir": str(directory / "state")},
        "http": {"listen": f"127.0.0.1:{port}"},
        "log": {"level": "warning"},
        "processes": {"enabled": view},
    }
    if groups:
        config["collectors"] = {"process_groups": {"process_names": GROUPS, "max_groups": 10000}}
    path = directory / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(setting: str, directory: Path, port: int) -> subprocess.Popen[bytes]:
    if setting == "process-exporter":
        import yaml  # noqa: PLC0415

        config = directory / "process-exporter.yaml"
        config.write_text(yaml.safe_dump({"process_names": GROUPS}))
        command = [PROCESS_EXPORTER, "-config.path", str(config), "-threads=false",
                   "-gather-smaps=false", "-children=false",
                   "-web.listen-address", f"127.0.0.1:{port}"]  # fmt: skip
    else:
        view, groups = {"agent": (False, False), "agent+view": (True, False),
                        "agent+view+groups": (True, True)}[setting]  # fmt: skip
        command = [AGENT, "run", "--config", str(agent_config(directory, port, view, groups))]
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def sample(page: bytes, pattern: str) -> float:
    found = re.search(pattern.encode(), page, re.M)
    return float(found.group(1)) if found else float("nan")


def measure(setting: str, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aiops-bench-procs-") as temporary:
        port = bl.free_port()
        process = start(setting, Path(temporary), port)
        try:
            marker = (
                b"namedprocess" if setting == "process-exporter" else b"aiops_agent_collections"
            )
            if (
                bl.wait_first_good(port, "/metrics", marker, time.perf_counter(), 60, process)
                is None
            ):
                raise RuntimeError(f"{setting} did not start")
            scraper = bl.Scraper(port, "/metrics", timeout=60)
            time.sleep(INTERVAL)  # past the first collection (no rates yet)
            _, _, page = scraper.get()
            collections = bl.metric_value(page, "aiops_agent_collections_total")
            cpu = bl.tree_cpu_seconds(process.pid)
            scrapes, table_seconds, scrape_seconds = 0, [], []
            deadline = time.monotonic() + WINDOW
            while time.monotonic() < deadline:
                time.sleep(INTERVAL)
                seconds, _status, page = scraper.get()
                scrapes += 1
                scrape_seconds.append(seconds)
                table_seconds.append(sample(page, TABLE_SECONDS))
            cpu = bl.tree_cpu_seconds(process.pid) - cpu
            if setting == "process-exporter":
                made = scrapes  # it collects when scraped
            else:
                made = bl.metric_value(page, "aiops_agent_collections_total") - collections
            memory = bl.tree_memory_kib(process.pid)
            groups = len(re.findall(rb"^namedprocess_namegroup_num_procs\{", page, re.M))
            scraper.close()
        finally:
            bl.stop(process)
    return {
        "setting": setting,
        "processes_spawned": count,
        "collections": made,
        "cpu_seconds_per_collection": cpu / made if made else float("nan"),
        "process_table_seconds": bl.median(t for t in table_seconds if not math.isnan(t)),
        "scrape_seconds": bl.median(scrape_seconds),
        "rss_mib": memory["rss_kib"] / 1024,
        "groups": groups,
    }


def spawn(count: int) -> list[subprocess.Popen[bytes]]:
    as_user = {"user": SLEEPER_UID, "group": SLEEPER_UID} if SLEEPER_UID >= 0 else {}
    return [
        subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL, close_fds=True, **as_user)
        for _ in range(count)
    ]


def main() -> int:
    if not AGENT or not PROCESS_EXPORTER:
        print("processes: needs AGENT (aiops-agent) and PROCESS_EXPORTER "
              "(Debian's prometheus-process-exporter: scripts/setup.sh --system tools)",
              file=sys.stderr)  # fmt: skip
        return 2
    results = []
    for count in COUNTS:
        sleepers = spawn(count)
        try:
            bl.log(f"{count} sleepers spawned")
            for setting in SETTINGS:
                result = measure(setting, count)
                bl.log(f"{count} {setting}: {result}")
                results.append(result)
        finally:
            for sleeper in sleepers:
                sleeper.kill()
            for sleeper in sleepers:
                sleeper.wait()
    path = bl.write_json(
        "processes.json",
        {"machine": bl.machine(), "git": bl.git_head(), "interval": INTERVAL, "window": WINDOW,
         "results": results},
    )  # fmt: skip
    bl.log(f"wrote {path}")
    from summarize import processes_section  # noqa: PLC0415 - bench/, beside this script

    print(processes_section(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
