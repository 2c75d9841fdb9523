#!/usr/bin/env python3
"""The agent's steady cost on this machine: run `aiops-agent run` with the default configuration
(only the listen port and state directory changed) for DURATION seconds, read
aiops_agent_collection_duration_seconds after every collection, and report the median and p95
collection time and the resident memory (RSS and PSS) at the end.

    scripts/measure_agent.py [DURATION_SECONDS]        # default 300 (5 minutes)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("aiops_agent_collection") or line.startswith("aiops_agent_collections"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def memory(pid: int) -> dict[str, int]:
    result = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                result[key.lower() + "_kib"] = int(rest.split()[0])
    return result


def main() -> int:
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0
    port = free_port()
    with tempfile.TemporaryDirectory() as state:
        env = {
            **os.environ,
            "AIOPS__HTTP__LISTEN": f"127.0.0.1:{port}",
            "AIOPS__AGENT__STATE_DIR": state,
        }
        agent = subprocess.Popen(
            [sys.executable, "-m", "aiops_agent", "run", "--log-level", "warning"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/metrics"
        durations: list[float] = []
        seen = 0.0
        deadline = time.monotonic() + duration
        try:
            while time.monotonic() < deadline:
                time.sleep(1)
                try:
                    values = scrape(url)
                except OSError:
                    continue
                count = values.get("aiops_agent_collections_total", 0.0)
                if count > seen:
                    seen = count
                    durations.append(values["aiops_agent_collection_duration_seconds"])
            figures = memory(agent.pid)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
    durations.sort()
    figures.update(
        seconds=duration,
        collections=len(durations),
        collection_median_ms=round(statistics.median(durations) * 1000, 2),
        collection_p95_ms=round(durations[int(len(durations) * 0.95) - 1] * 1000, 2),
        exit_code=agent.returncode,
    )
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
