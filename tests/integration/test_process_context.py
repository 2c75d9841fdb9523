"""Alert context end to end through `aiops-agent run`: a real CPU hog and a real memory hog started
by the test are named in the firing alerts' payloads received by a webhook on loopback, with
process-exporter's group series on /metrics; and secrets on the hogs' command lines appear in
nothing the test collects (payloads, log, /metrics, /api/v1/alerts, the state directory,
`aiops-agent top --once`)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.agentproc import running_agent
from tests.helpers.receivers import Recorder, recording
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

MEMORY_HOG_BYTES = 300 << 20
# The hogs, each marked with a name the test looks for. The memory hog touches every page so
# they are resident, then says so on stdout.
CPU_HOG = "import sys\nwhile True:\n    pass\n"
MEMORY_HOG = (
    "import sys, time\n"
    f"block = bytearray({MEMORY_HOG_BYTES})\n"
    "for i in range(0, len(block), 4096):\n    block[i] = 1\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture
def secret() -> str:
    return "s3cr3t-" + secrets.token_hex(8)


@pytest.fixture
def hogs(secret: str) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    marker = f"aiops-hog-{secrets.token_hex(4)}"
    cpu = subprocess.Popen(
        [sys.executable, "-c", CPU_HOG, f"{marker}-cpu", f"--password={secret}"],
        stdin=subprocess.DEVNULL,
    )
    memory = subprocess.Popen(
        [sys.executable, "-c", MEMORY_HOG, f"{marker}-mem",
         f"https://bob:{secret}@db.invalid/x", "--api-token", secret],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert memory.stdout is not None
        assert memory.stdout.readline() == b"ready\n"
        yield {"cpu": cpu, "memory": memory}
    finally:
        for process in (cpu, memory):
            process.kill()
            process.wait()


def config(receiver: Recorder) -> dict[str, Any]:
    always = {"warning": 0.0, "for": "0s"}  # fire at the first value: the context is tested
    return {
        # Many other processes share the test machine: keep enough of them for the hogs to show.
        "processes": {"top": 50, "cmdline_max_length": 600},
        "collectors": {
            "filesystem": {"enabled": False},
            "process_groups": {
                "process_names": [{"name": "hog-{{.Matches.kind}}", "cmdline": [
                    r"aiops-hog-\w+-(?P<kind>cpu|mem)"]}],
            },
        },
        "detection": {
            "rules": [
                {"name": "CpuCtx", "metric": "aiops_agent_cpu_utilization_ratio",
                 "context": "cpu", **always},
                {"name": "MemCtx", "metric": "aiops_agent_memory_utilization_ratio",
                 "context": "memory", **always},
            ],
        },
        "receivers": {"hook": {"webhook": {"url": f"{receiver.url}/hook"}}},
        "routes": [{"receiver": "hook", "matchers": ['alertname=~"CpuCtx|MemCtx"']}],
    }  # fmt: skip


def firing(receiver: Recorder, alertname: str) -> dict[str, Any] | None:
    for document in receiver.json_bodies():
        for alert in document.get("alerts", []):
            if alert["labels"].get("alertname") == alertname and alert["processes"]:
                return dict(alert)
    return None


def test_hogs_are_named_in_firing_alerts_and_secrets_nowhere(
    hogs: dict[str, subprocess.Popen[bytes]], secret: str, tmp_path: Path
) -> None:
    with recording() as receiver, running_agent(config(receiver)) as agent:
        cpu_alert = wait_for(lambda: firing(receiver, "CpuCtx"), "a CpuCtx alert with processes")
        memory_alert = wait_for(lambda: firing(receiver, "MemCtx"), "a MemCtx alert")
        by_pid = {p["pid"]: p for p in cpu_alert["processes"]}
        assert cpu_alert["context"] == "cpu"
        hog = by_pid[hogs["cpu"].pid]
        assert hog["cpu_ratio"] > 0.2  # a busy loop, on a shared machine
        assert hog["cmdline"].endswith("--password=***")
        assert f"pid {hogs['cpu'].pid} python" in cpu_alert["annotations"]["top_processes"]
        eater = {p["pid"]: p for p in memory_alert["processes"]}[hogs["memory"].pid]
        assert eater["rss_bytes"] >= MEMORY_HOG_BYTES
        assert "https://bob:***@db.invalid/x --api-token ***" in eater["cmdline"]
        metrics = agent.metrics()
        assert 'namedprocess_namegroup_num_procs{groupname="hog-cpu"} 1' in metrics
        assert 'namedprocess_namegroup_num_procs{groupname="hog-mem"} 1' in metrics
        status, alerts = agent.get("/api/v1/alerts")
        assert status == 200 and str(hogs["cpu"].pid).encode() in alerts
        top = subprocess.run(
            [sys.executable, "-m", "aiops_agent", "top", "--once", "--config",
             str(agent.config_path)],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        assert f" {hogs['cpu'].pid} ".encode() in top.stdout
        state = b"".join(
            p.read_bytes() for p in (agent.directory / "state").rglob("*") if p.is_file()
        )
        collected = {
            "webhook bodies": b"".join(r.body for r in receiver.received),
            "/metrics": metrics.encode(),
            "/api/v1/alerts": alerts,
            "aiops-agent top": top.stdout + top.stderr,
            "state directory": state,
        }
    collected["log"] = agent.stderr_text().encode()
    for where, data in collected.items():
        assert data, where  # something was collected: a test that greps nothing proves nothing
        assert secret.encode() not in data, f"the secret leaked into {where}"
