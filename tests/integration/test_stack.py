"""The local stack: compose.yaml is valid (podman-compose config, and each file it mounts exists
and passes its tool's check), and scripts/stack.sh runs the same topology from Debian's packages
and the venv's agent: Prometheus scrapes the agent, and the agent's StackCheck alert reaches the
webhook sink through Alertmanager; down stops everything.

Grafana is not part of the run: it is not packaged for Debian (AGPL, not in bookworm), so the
dashboards' loading into Grafana is left to compose.yaml; their queries are tested in
test_mixin_dashboards.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts/stack.sh"
SERVICES = {"agent", "prometheus", "alertmanager", "webhook-sink", "grafana"}


def _compose_config() -> dict[str, object]:
    podman_compose = Path(sys.executable).parent / "podman-compose"
    result = subprocess.run(
        [str(podman_compose), "-f", "compose.yaml", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document: dict[str, object] = yaml.safe_load(result.stdout)
    return document


def test_compose_file_is_valid_and_mounts_what_exists() -> None:
    services = _compose_config()["services"]
    assert isinstance(services, dict)
    assert set(services) == SERVICES
    mounts = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if not source.startswith("./"):
                continue  # the host's root for host_root
            assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            mounts[target] = ROOT / source
    # What each service reads passes its tool's check.
    rules = mounts["/etc/prometheus/mixin"] / "prometheus_alerts.yaml"
    prometheus = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/mixin/prometheus_alerts.yaml"]
    checks = [
        ["promtool", "check", "rules", str(rules)],
        ["amtool", "check-config", str(mounts["/etc/alertmanager/alertmanager.yml"])],
        [
            sys.executable,
            "-m",
            "aiops_agent",
            "check-config",
            "--no-resolve-secrets",
            "--config",
            str(mounts["/etc/aiops-agent/config.yaml"]),
        ],
    ]
    for command in checks:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    dashboards = mounts["/var/lib/grafana/dashboards/aiops-agent"]
    assert dashboards == ROOT / "mixin/dashboards_out"
    assert len(list(dashboards.glob("*.json"))) == 3
    provider = yaml.safe_load(
        mounts["/etc/grafana/provisioning/dashboards/aiops-agent.yaml"].read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/aiops-agent"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STACK), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "AIOPS_STACK_DIR": str(tmp_path / "stack"),
        "AIOPS_STACK_AGENT": "venv",
        "AIOPS_STACK_AGENT_PORT": str(_free_port()),
        "AIOPS_STACK_PROMETHEUS_PORT": str(_free_port()),
        "AIOPS_STACK_ALERTMANAGER_PORT": str(_free_port()),
        "AIOPS_STACK_SINK_PORT": str(_free_port()),
    }
    try:
        yield env
    finally:
        _stack("down", env)


def _pids(directory: Path) -> list[int]:
    return [int(path.read_text()) for path in directory.glob("*.pid")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stack_up_status_down(stack_env: dict[str, str]) -> None:
    directory = Path(stack_env["AIOPS_STACK_DIR"])
    up = _stack("up", stack_env)
    assert up.returncode == 0, up.stdout + up.stderr
    print("\n" + up.stdout)
    assert "StackCheck alert reached the webhook sink" in up.stdout
    # Checked here too, not only by the script: Prometheus has the agent's target up...
    port = stack_env["AIOPS_STACK_PROMETHEUS_PORT"]
    query = urllib.parse.urlencode({"query": 'up{job="aiops-agent"}'})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}") as answer:
        result = json.load(answer)["data"]["result"]
    assert [item["value"][1] for item in result] == ["1"], result
    # ...and the sink holds Alertmanager's notification (receiver webhook-sink) of the alert.
    received = [
        json.loads(line) for line in (directory / "received.jsonl").read_text().splitlines()
    ]
    assert any(
        notification["receiver"] == "webhook-sink"
        and any(a["labels"]["alertname"] == "StackCheck" for a in notification["alerts"])
        for notification in received
    ), received
    status = _stack("status", stack_env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(": running") == 4, status.stdout
    pids = _pids(directory)
    assert len(pids) == 4 and all(_alive(pid) for pid in pids), pids
    down = _stack("down", stack_env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(_alive(pid) for pid in pids), pids
    after = _stack("status", stack_env)
    assert after.returncode == 3 and ": running" not in after.stdout, after.stdout
    # Up again on the same directory: the alert reaches the sink again (Alertmanager's
    # notification log from the first run must not hold it back).
    again = _stack("up", stack_env)
    assert again.returncode == 0, again.stdout + again.stderr


def test_stack_refuses_an_unknown_agent_mode(stack_env: dict[str, str]) -> None:
    result = _stack("up", {**stack_env, "AIOPS_STACK_AGENT": "docker"})
    assert result.returncode == 1
    assert "AIOPS_STACK_AGENT must be auto, image or venv, not 'docker'" in result.stderr
    assert not _pids(Path(stack_env["AIOPS_STACK_DIR"]))
