"""One page per incident, with a real agent and a webhook on loopback: alerts of one host that
fire within group_wait arrive as exactly one notification listing them all; an alert added
later arrives after group_interval as the group's next notification (listing all three); their
resolve as the last one. And the groups survive the agent being SIGKILLed while a group waits
(the notification then goes out once, after the restart, with the group's id from before) and
stopped with SIGTERM between two notifications of a group (the next one continues its
sequence)."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.receivers import Received, Recorder
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

DEADLINE = 90.0  # generous: the machine is shared
HOST = "group-host"
CPU, LOAD, ANOMALY = "GroupCpu", "GroupLoad", "GroupAnomaly"


def config(state: Path, url: str, firing: set[str], group_wait: str) -> dict[str, Any]:
    """Three rules on node_time_seconds (always collected): threshold 0 fires, 1e12 never.
    GroupLoad fires two evaluations after it begins (for: 2s), so it joins a waiting group
    later than GroupCpu does, as a load alert follows a CPU one."""
    rules = [
        {
            "name": name,
            "metric": "node_time_seconds",
            "warning": 0 if name in firing else 1e12,
            "for": "2s" if name == LOAD else "0s",
        }
        for name in (CPU, LOAD, ANOMALY)
    ]
    return {
        "agent": {"interval": "1s", "hostname": HOST, "state_dir": str(state)},
        "http": {"listen": "127.0.0.1:0"},
        "collectors": {"filesystem": {"enabled": False}},
        "detection": {"rules": rules, "baselines": {"enabled": False}},
        "alerting": {"repeat_interval": "1h"},
        "grouping": {"group_by": ["host"], "group_wait": group_wait, "group_interval": "2s"},
        "receivers": {"hook": {"webhook": {"url": f"{url}/hook"}}},
        "routes": [{"receiver": "hook", "matchers": ['alertname=~"Group.*"']}],
        "outbox": {"backoff_base": "50ms", "backoff_max": "500ms"},
    }


def notifications(recorder: Recorder, count: int, agent: AgentProcess) -> list[Any]:
    def arrived() -> list[Received]:
        accepted = recorder.accepted()
        return accepted if len(accepted) >= count else []

    try:
        return [r.json() for r in wait_for(arrived, f"{count} notifications", DEADLINE)]
    except AssertionError as error:
        raise AssertionError(f"{error}; agent stderr:\n{agent.stderr_text()[-3000:]}") from None


def collections(agent: AgentProcess) -> float:
    for line in agent.metrics().splitlines():
        if line.startswith("aiops_agent_collections_total "):
            return float(line.split()[1])
    return 0.0


def settle(agent: AgentProcess) -> None:
    """Three more evaluations, so that a notification that should not exist had its chance."""
    seen = collections(agent)
    wait_for(lambda: collections(agent) >= seen + 3, "three more evaluations", DEADLINE)


def alerts(body: Any) -> list[tuple[str, str]]:
    return sorted((a["labels"]["alertname"], a["status"]) for a in body["alerts"])


def reload(agent: AgentProcess, document: dict[str, Any]) -> None:
    agent.write_config(document)
    agent.send_signal(signal.SIGHUP)


def test_one_notification_per_group_then_an_addition_then_the_resolve(tmp_path: Path) -> None:
    state = tmp_path / "state"
    recorder = Recorder()
    try:
        with running_agent(config(state, recorder.url, {CPU, LOAD}, "10s")) as agent:
            (first,) = notifications(recorder, 1, agent)
            settle(agent)
            assert len(recorder.accepted()) == 1  # not one per alert
            assert 'aiops_agent_notification_groups{receiver="hook"} 1' in agent.metrics()
            reload(agent, config(state, recorder.url, {CPU, LOAD, ANOMALY}, "10s"))
            second = notifications(recorder, 2, agent)[1]
            reload(agent, config(state, recorder.url, set(), "10s"))
            third = notifications(recorder, 3, agent)[2]
            settle(agent)
            received = [r.json() for r in recorder.received]
            assert 'aiops_agent_notification_groups{receiver="hook"} 0' in agent.metrics()
    finally:
        recorder.stop()
    assert first["version"] == "2" and first["status"] == "firing"
    assert first["group"]["labels"] == {"host": HOST} and first["group"]["sequence"] == 1
    assert alerts(first) == [(CPU, "firing"), (LOAD, "firing")]
    assert second["group"] == {**first["group"], "sequence": 2}
    assert alerts(second) == [(ANOMALY, "firing"), (CPU, "firing"), (LOAD, "firing")]
    assert third["group"] == {**first["group"], "sequence": 3}
    assert third["status"] == "resolved"
    assert alerts(third) == [(ANOMALY, "resolved"), (CPU, "resolved"), (LOAD, "resolved")]
    assert len(received) == 3, [alerts(body) for body in received]
    keys = [body["idempotency_key"] for body in received]
    assert len(set(keys)) == 3


def saved_groups(state: Path) -> list[dict[str, Any]]:
    path = state / "outbox" / "hook.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [json.loads(text) for (text,) in db.execute("SELECT state FROM groups")]
    except sqlite3.Error:
        return []  # not created yet
    finally:
        db.close()


def test_groups_survive_sigkill_and_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    recorder = Recorder()
    try:
        # 1. GroupCpu fires and its group waits (group_wait 10s): SIGKILLed meanwhile.
        with running_agent(config(state, recorder.url, {CPU}, "10s")) as first:
            (waiting,) = wait_for(lambda: saved_groups(state), "a saved group", DEADLINE)
            first.kill()
        assert not recorder.received  # it was still waiting
        assert [m["labels"]["alertname"] for m in waiting["members"]] == [CPU]
        assert waiting["lastSent"] is None

        # 2. Restarted with GroupLoad firing too: the group, taken back, goes out once.
        with running_agent(config(state, recorder.url, {CPU, LOAD}, "10s")) as second:
            (fired,) = notifications(recorder, 1, second)
            settle(second)
        assert fired["group"]["key"] == waiting["id"] and fired["group"]["sequence"] == 1
        assert alerts(fired) == [(CPU, "firing"), (LOAD, "firing")]

        # 3. Stopped (SIGTERM) above; restarted with GroupAnomaly firing: the group's next
        #    notification continues its sequence; then everything resolves.
        with running_agent(config(state, recorder.url, {CPU, LOAD, ANOMALY}, "10s")) as third:
            added = notifications(recorder, 2, third)[1]
            reload(third, config(state, recorder.url, set(), "10s"))
            resolved = notifications(recorder, 3, third)[2]
            settle(third)
            received = [r.json() for r in recorder.received]
    finally:
        recorder.stop()
    assert added["group"] == {**fired["group"], "sequence": 2}
    assert alerts(added) == [(ANOMALY, "firing"), (CPU, "firing"), (LOAD, "firing")]
    assert resolved["group"] == {**fired["group"], "sequence": 3}
    assert alerts(resolved) == [(ANOMALY, "resolved"), (CPU, "resolved"), (LOAD, "resolved")]
    assert len(received) == 3, [alerts(body) for body in received]
    assert not saved_groups(state)  # the group ended with its resolve
