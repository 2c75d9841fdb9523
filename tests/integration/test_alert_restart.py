"""A restart in the middle of an incident does not page again: an alert fires and is notified to
a webhook on loopback, the agent is stopped with SIGTERM and started again on the same state
directory, then SIGKILLed and started again. The receiver has exactly one firing notification
(the repeat interval, an hour, has not passed), and when the condition clears (a reload raises
the threshold out of reach) exactly one resolved, with the same startsAt and fingerprint, the
value at resolve time and a description worded for the resolve."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.receivers import Recorder
from tests.promtext import parse as parse_metrics

pytestmark = pytest.mark.integration

DEADLINE = 60.0  # generous: the machine is shared


def config(state: Path, url: str, threshold: float) -> dict[str, Any]:
    return {
        "agent": {"interval": "1s", "hostname": "restart-host", "state_dir": str(state)},
        "http": {"listen": "127.0.0.1:0"},
        "collectors": {"filesystem": {"enabled": False}},
        "detection": {
            # node_time_seconds is always collected: above 0 the alert fires at once.
            "rules": [{"name": "Restarted", "metric": "node_time_seconds", "warning": threshold}],
            "baselines": {"enabled": False},
        },
        "alerting": {"repeat_interval": "1h"},
        "receivers": {"hook": {"webhook": {"url": f"{url}/hook"}}},
        "routes": [{"receiver": "hook", "matchers": ['alertname="Restarted"']}],
        "outbox": {"backoff_base": "50ms", "backoff_max": "500ms"},
    }


def poll(condition: Callable[[], Any], what: str, agent: AgentProcess) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen in time; agent stderr:\n{agent.stderr_text()[-3000:]}")


def collections(agent: AgentProcess) -> float:
    page = parse_metrics(agent.metrics())
    return page["aiops_agent_collections_total"].by_labels()[()]


def restored_alert(agent: AgentProcess, starts_at: str) -> bool:
    """The alert is evaluated in this run (the API lists it once an evaluation ran), still
    firing, with its original startsAt, and a few more evaluations have passed."""
    status, body = agent.get("/api/v1/alerts")
    alerts = json.loads(body)["data"]["alerts"] if status == 200 else []
    firing = [a for a in alerts if a["labels"]["alertname"] == "Restarted"]
    return bool(firing) and firing[0]["state"] == "firing" and firing[0]["startsAt"] == starts_at


def test_restarts_neither_page_again_nor_lose_the_resolve(tmp_path: Path) -> None:
    state = tmp_path / "state"
    recorder = Recorder()
    try:
        with running_agent(config(state, recorder.url, 0)) as first:
            (fired,) = poll(recorder.accepted, "the firing notification", first)
        assert (state / "alerts.json").is_file()
        (alert,) = fired.json()["alerts"]
        assert alert["status"] == "firing" and alert["sequence"] == 1
        group = fired.json()["group"]
        assert group["sequence"] == 1

        with running_agent(config(state, recorder.url, 0)) as second:  # after SIGTERM
            poll(lambda: restored_alert(second, alert["starts_at"]), "restored alert", second)
            seen = collections(second)
            poll(lambda: collections(second) >= seen + 3, "three more evaluations", second)
            second.kill()

        with running_agent(config(state, recorder.url, 0)) as third:  # after SIGKILL
            poll(lambda: restored_alert(third, alert["starts_at"]), "restored alert", third)
            seen = collections(third)
            poll(lambda: collections(third) >= seen + 3, "three more evaluations", third)
            assert len(recorder.received) == 1, [r.json() for r in recorder.received]

            third.write_config(config(state, recorder.url, 1e12))  # node_time is far below
            third.send_signal(signal.SIGHUP)
            poll(lambda: len(recorder.accepted()) >= 2, "the resolved notification", third)
            seen = collections(third)
            poll(lambda: collections(third) >= seen + 3, "three more evaluations", third)
    finally:
        recorder.stop()

    statuses = [r.json()["status"] for r in recorder.received]
    assert statuses == ["firing", "resolved"], statuses
    # The resolve is the next notification of the same group, whose state survived both restarts.
    assert recorder.received[1].json()["group"] == {**group, "sequence": 2}
    (resolved,) = recorder.received[1].json()["alerts"]
    assert resolved["fingerprint"] == alert["fingerprint"]
    assert resolved["starts_at"] == alert["starts_at"]
    assert resolved["sequence"] == 2  # idempotency keys keep increasing across restarts
    assert resolved["ends_at"] is not None
    assert 1e9 < resolved["value"] < 1e12  # the time when it resolved, not a stale value
    assert resolved["annotations"]["summary"].startswith("Resolved: ")
    assert "back below the warning threshold 1e+12" in resolved["annotations"]["description"]
