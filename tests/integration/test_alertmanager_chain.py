"""The full chain a user runs: `aiops-agent run` evaluates its rules and posts alerts to a real
Alertmanager (API v2), which notifies a webhook; all on loopback.

Two rules fire within seconds (a warning on a CPU's idle time, a critical on uptime: values that
are always above 0). The alerts are read back from Alertmanager's GET /api/v2/alerts with the
agent's labels (alertname, severity, host, instance, the series' labels), annotations (summary,
description), fingerprint, startsAt and generatorURL, and Alertmanager's webhook delivers a firing
notification for each. A SIGHUP then reloads the agent with one rule removed and the other's
threshold out of reach: both resolve in Alertmanager (gone from the active list) and the webhook
receives both resolved notifications."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.agentproc import running_agent
from tests.helpers.alertmanager import by_name, running_alertmanager, webhook_sink
from tests.promtext import parse as parse_metrics

pytestmark = pytest.mark.integration

HOST = "chain-host"
WAIT = 45.0  # seconds; every wait below is bounded by this


def rules(warning_level: float, with_critical: bool) -> list[dict[str, Any]]:
    found = [
        {
            "name": "ChainCpuIdle",
            "metric": "node_cpu_seconds_total",
            "matchers": ['cpu="0"', 'mode="idle"'],
            "warning": warning_level,
            "for": "2s",
            "summary": "CPU {labels.cpu} {labels.mode} on {host}",
            "description": "{alertname} ({severity}) above {threshold}",
        }
    ]
    if with_critical:
        found.append(
            {
                "name": "ChainUptime",
                "metric": "aiops_agent_host_uptime_seconds",
                "critical": 0,
                "for": "2s",
                "summary": "{host} is up",
            }
        )
    return found


def pending_rows(outbox: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(outbox)
    try:
        return list(db.execute("SELECT * FROM pending"))
    finally:
        db.close()


def agent_config(
    state: Path, am_url: str, warning_level: float, with_critical: bool
) -> dict[str, Any]:
    return {
        "agent": {"interval": "1s", "hostname": HOST, "state_dir": str(state)},
        "http": {"listen": "127.0.0.1:0"},  # the same in the reloaded config: no rebinding
        "collectors": {"filesystem": {"enabled": False}},  # no statvfs on odd mounts of CI hosts
        "detection": {
            "rules": rules(warning_level, with_critical),
            "baselines": {"enabled": False},
        },
        "receivers": {"am": {"alertmanager": {"url": am_url, "resend_interval": "5s"}}},
        "routes": [{"receiver": "am"}],
        "outbox": {"backoff_base": "100ms", "backoff_max": "1s"},
    }


def test_agent_alertmanager_webhook_chain(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with webhook_sink() as sink, running_alertmanager(sink.url) as am:
        config = agent_config(state, am.url, 0, True)
        with running_agent(config) as agent:
            # Listening on port 0 (running_agent's default), the instance is the host name alone.
            instance = HOST
            firing = am.wait_alerts(
                lambda alerts: {"ChainCpuIdle", "ChainUptime"} <= set(by_name(alerts)), WAIT
            )
            assert {"ChainCpuIdle", "ChainUptime"} <= set(by_name(firing)), (
                f"alerts in Alertmanager: {firing}\nagent:\n{agent.stderr_text()[-3000:]}"
            )
            status, body = agent.get("/api/v1/alerts")
            assert status == 200

            ours = {a["labels"]["alertname"]: a for a in json.loads(body)["data"]["alerts"]}

            cpu = by_name(firing)["ChainCpuIdle"]
            assert len(cpu) == 1, cpu
            assert cpu[0]["labels"] == {
                "alertname": "ChainCpuIdle",
                "severity": "warning",
                "host": HOST,
                "instance": instance,
                "cpu": "0",
                "mode": "idle",
            }
            assert cpu[0]["annotations"] == {
                "summary": f"CPU 0 idle on {HOST}",
                "description": "ChainCpuIdle (warning) above 0",
            }
            uptime = by_name(firing)["ChainUptime"]
            assert len(uptime) == 1, uptime
            assert uptime[0]["labels"] == {
                "alertname": "ChainUptime",
                "severity": "critical",
                "host": HOST,
                "instance": instance,
            }
            assert uptime[0]["annotations"]["summary"] == f"{HOST} is up"
            assert "is 0" not in uptime[0]["annotations"]["description"]
            assert "aiops_agent_host_uptime_seconds is " in uptime[0]["annotations"]["description"]
            for alert in (cpu[0], uptime[0]):
                name = alert["labels"]["alertname"]
                assert alert["status"]["state"] == "active"
                # The agent's fingerprint is Alertmanager's: the same alert on both sides.
                assert alert["fingerprint"] == ours[name]["fingerprint"]
                assert alert["startsAt"][:19] == ours[name]["startsAt"][:19]
                assert alert["generatorURL"].endswith(f"/api/v1/alerts?rule={name}")
                # The host by name, as in the instance label (from where the link is opened,
                # 127.0.0.1, the address the agent listens on here, is another machine), and the
                # port the agent bound.
                assert alert["generatorURL"].startswith(f"http://{HOST}:{agent.port}/")

            assert sink.wait(
                lambda s: (
                    "firing" in s.statuses("ChainCpuIdle") and "firing" in s.statuses("ChainUptime")
                ),
                WAIT,
            ), f"webhook got: {sink.notifications()}\nalertmanager:\n{am.log_text()[-3000:]}"
            hooked = {a["labels"]["alertname"]: a for a in sink.alerts() if a["status"] == "firing"}
            assert hooked["ChainCpuIdle"]["labels"] == cpu[0]["labels"]
            assert hooked["ChainCpuIdle"]["annotations"] == cpu[0]["annotations"]
            assert hooked["ChainUptime"]["fingerprint"] == uptime[0]["fingerprint"]

            # Resolve both: one rule removed, the other's threshold out of reach.
            reloaded_at = time.time()
            agent.write_config(agent_config(state, am.url, 1e18, False))
            agent.send_signal(signal.SIGHUP)
            left = am.wait_alerts(
                lambda alerts: not {"ChainCpuIdle", "ChainUptime"} & set(by_name(alerts)), WAIT
            )
            assert not {"ChainCpuIdle", "ChainUptime"} & set(by_name(left)), (
                f"still active in Alertmanager: {left}\nagent:\n{agent.stderr_text()[-3000:]}"
            )
            assert sink.wait(
                lambda s: (
                    "resolved" in s.statuses("ChainCpuIdle")
                    and "resolved" in s.statuses("ChainUptime")
                ),
                WAIT,
            ), f"webhook got: {sink.notifications()}\nalertmanager:\n{am.log_text()[-3000:]}"
            for alert in sink.alerts():
                if alert["status"] == "resolved":
                    assert alert["endsAt"] >= time.strftime(
                        "%Y-%m-%dT%H:%M:%S", time.gmtime(reloaded_at - 1)
                    ), alert
            # Drained: nothing waits in the outbox. /metrics shows the depth as of the latest
            # collection, so it may lag the delivery by an interval.
            am_depth = (("receiver", "am"),)
            drain_started = time.monotonic()
            deadline = drain_started + WAIT
            while True:
                metrics = parse_metrics(agent.metrics())
                depth = metrics["aiops_agent_outbox_queue_depth"].by_labels()
                if depth.get(am_depth) == 0.0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            drained_after = time.monotonic() - drain_started
            assert depth.get(am_depth) == 0.0, (depth, pending_rows(state / "outbox" / "am.sqlite"))
            sent = metrics["aiops_agent_notifications_sent_total"].by_labels()
            assert sent[(("receiver", "am"),)] >= 4  # two firing, two resolved
            dead = metrics["aiops_agent_notifications_dead_letters_total"].by_labels()
            assert dead.get((("receiver", "am"),), 0.0) == 0.0
        print(
            f"\nchain: outbox drained {drained_after:.1f}s (on /metrics) after the webhook "
            f"saw the resolves; {len(sink.notifications())} webhook notifications from Alertmanager "
            f"({sorted((a['labels']['alertname'], a['status']) for a in sink.alerts())})"
        )
