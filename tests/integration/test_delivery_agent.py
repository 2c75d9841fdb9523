"""End to end through `aiops-agent run`: a rule fires, the alert is routed to a webhook whose
receiver is down, the agent is SIGKILLed with the notification in its outbox, and after a restart
with the receiver back the very same notification (same idempotency key) arrives. The delivery
metrics appear on /metrics."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.agentproc import running_agent
from tests.helpers.ports import reserve
from tests.helpers.receivers import Recorder
from tests.helpers.wait import eventually
from tests.promtext import parse as parse_metrics

pytestmark = pytest.mark.integration


def agent_config(state: Path, port: int) -> dict[str, Any]:
    return {
        "agent": {"interval": "1s", "hostname": "e2e-host", "state_dir": str(state)},
        "http": {"listen": "127.0.0.1:0"},
        # statvfs on a hung network or FUSE mount would leave the SIGKILLed agent unreaped.
        "collectors": {"filesystem": {"enabled": False}},
        "detection": {
            "rules": [
                {
                    "name": "AlwaysUp",
                    "metric": "aiops_agent_host_uptime_seconds",
                    "warning": 0,
                    "for": "0s",
                    "summary": "up on {host}",
                }
            ]
        },
        "receivers": {"hook": {"webhook": {"url": f"http://127.0.0.1:{port}/hook"}}},
        "routes": [{"receiver": "hook", "matchers": ['alertname="AlwaysUp"']}],
        "outbox": {"backoff_base": "50ms", "backoff_max": "500ms"},
    }


def pending_keys(outbox: Path) -> list[str]:
    if not outbox.exists():
        return []
    db = sqlite3.connect(outbox)
    try:
        return [key for (key,) in db.execute("SELECT key FROM pending ORDER BY id")]
    except sqlite3.Error:
        return []
    finally:
        db.close()


def test_alert_survives_sigkill_of_the_agent(tmp_path: Path) -> None:
    reserved = reserve()  # bound, not listening yet: the receiver is down at first
    port = reserved.getsockname()[1]
    state = tmp_path / "state"
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(agent_config(state, port)))
    outbox = state / "outbox" / "hook.sqlite"
    with open(tmp_path / "first.log", "wb") as stderr:
        first = subprocess.Popen(
            [sys.executable, "-m", "aiops_agent", "run", "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        first_log = tmp_path / "first.log"
        # Enqueued, and tried against the dead receiver.
        assert eventually(
            lambda: bool(pending_keys(outbox)) and "delivery failed" in first_log.read_text()
        ), first_log.read_text()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    waiting = pending_keys(outbox)
    assert waiting

    recorder = Recorder(reserved)
    try:
        with running_agent(agent_config(state, port)) as agent:
            assert eventually(
                lambda: set(waiting) <= {r.headers["idempotency-key"] for r in recorder.accepted()},
                30,
            ), agent.stderr_text()[-3000:]
            metrics = agent.metrics()
    finally:
        recorder.stop()
    first_body = next(
        r.json() for r in recorder.accepted() if r.headers["idempotency-key"] == waiting[0]
    )
    (first_alert,) = first_body["alerts"]
    assert first_alert["labels"]["alertname"] == "AlwaysUp"
    assert first_alert["labels"]["host"] == "e2e-host"
    assert first_body["group"]["labels"] == {"alertname": "AlwaysUp", "host": "e2e-host"}
    assert first_body["status"] == "firing"
    assert 'aiops_agent_notifications_sent_total{receiver="hook"}' in metrics
    assert 'aiops_agent_outbox_queue_depth{receiver="hook"}' in metrics
    assert "aiops_agent_notifications_delivery_latency_seconds_bucket" in metrics
    parse_metrics(metrics)  # the notification families are valid exposition text
