"""What each optional layer of the agent costs in CPU: agents side by side, one per setting.

    python bench/layers_cpu.py        # DURATION=300 by default; AGENT as in bench/Makefile

Starts, at the same time, `aiops-agent run` with the default configuration (only http.listen and
agent.state_dir set) and with one layer switched off by an `AIOPS__...` override each: the process
layer, the learned baselines, and both detection and the process layer. Every agent is scraped
every 15 s like Prometheus (gzip); after a 30 s start-up, CPU is utime+stime of its process tree
over DURATION, in % of one core. Side by side, so the machine's load weighs on all of them alike:
compare the settings with each other, not with another run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

AGENT = (
    os.environ.get("AGENT") or shutil.which("aiops-agent") or str(bl.ROOT / ".venv/bin/aiops-agent")
)
DURATION = float(os.environ.get("DURATION") or "300")
START_UP = 30.0
SCRAPE_EVERY = 15.0
SETTINGS = {
    "defaults": {},
    "without the process layer": {"AIOPS__PROCESSES__ENABLED": "false"},
    "without learned baselines": {"AIOPS__DETECTION__BASELINES__ENABLED": "false"},
    "without detection and the process layer": {
        "AIOPS__DETECTION__ENABLED": "false",
        "AIOPS__PROCESSES__ENABLED": "false",
    },
}


def scrape(port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback only
        answer.read()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aiops-layers-") as work:
        config = Path(work) / "config.yaml"
        config.write_text("{}\n")
        agents: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for number, (name, overrides) in enumerate(SETTINGS.items()):
                port, state = bl.free_port(), Path(work) / f"state{number}"
                state.mkdir()
                env = {**os.environ, **overrides, "AIOPS__HTTP__LISTEN": f"127.0.0.1:{port}",
                       "AIOPS__AGENT__STATE_DIR": str(state)}  # fmt: skip
                command = [AGENT, "run", "--config", str(config)]
                agents[name] = (subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL), port)
            time.sleep(START_UP)
            before = {name: bl.tree_cpu_seconds(p.pid) for name, (p, _) in agents.items()}
            started = time.monotonic()
            while time.monotonic() - started < DURATION:
                for _, port in agents.values():
                    scrape(port)
                time.sleep(SCRAPE_EVERY)
            elapsed = time.monotonic() - started
            after = {name: bl.tree_cpu_seconds(p.pid) for name, (p, _) in agents.items()}
        finally:
            for process, _ in agents.values():
                bl.stop(process)
    load = os.getloadavg()[0]
    bl.log(f"{len(agents)} agents side by side for {elapsed:.0f} s, load average {load:.2f}")
    for name in agents:
        print(f"{name:42s} {100 * (after[name] - before[name]) / elapsed:.3f} % of a core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
