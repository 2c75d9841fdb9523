"""Alerting in the real agent: a rule that always holds (threshold 0 on the host's uptime) goes
pending, then fires after its `for`; it shows on /api/v1/alerts and as ALERTS on /metrics; the
log receiver logs it; the silence API creates, lists and expires a silence (with its cross-site
guards) and persists it in the state directory; learned baselines export anomaly scores."""

from __future__ import annotations

import json
from typing import Any, Optional, TypeVar

import pytest

from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.silenceapi import call
from tests.helpers.wait import wait_for
from tests.promtext import parse as parse_metrics

pytestmark = pytest.mark.integration

T = TypeVar("T")

CONFIG: dict[str, Any] = {
    "agent": {"interval": "1s", "hostname": "itest-host"},
    "detection": {
        "rules": [
            {
                "name": "AlwaysUp",
                "metric": "aiops_agent_host_uptime_seconds",
                "warning": 0,
                "for": "2s",
                "summary": "up for {value} seconds on {host}",
            }
        ],
        "baselines": {"warmup": 2, "series": ["aiops_agent_cpu_utilization_ratio"]},
    },
    "alerting": {"repeat_interval": "1h"},
}


def alerts(agent: AgentProcess) -> list[dict[str, Any]]:
    status, body = agent.get("/api/v1/alerts")
    assert status == 200
    return [a for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == "AlwaysUp"]


def firing(agent: AgentProcess) -> Optional[dict[str, Any]]:
    found = [a for a in alerts(agent) if a["state"] == "firing"]
    return found[0] if found else None


SILENCE = {
    "matchers": [{"name": "alertname", "value": "AlwaysUp", "isRegex": False, "isEqual": True}],
    "startsAt": "2020-01-01T00:00:00Z",
    "endsAt": "2999-01-01T00:00:00Z",
    "createdBy": "integration test",
    "comment": "checking the API",
}


def test_rule_fires_is_exported_logged_and_silenced() -> None:
    with running_agent(CONFIG) as agent:
        alert = wait_for(lambda: firing(agent), "the firing alert")
        assert alert["labels"]["severity"] == "warning"
        assert alert["labels"]["host"] == "itest-host"
        assert alert["annotations"]["summary"].endswith("seconds on itest-host")
        assert alert["activeAt"] < alert["startsAt"]  # it was pending for its `for` first

        families = parse_metrics(agent.metrics())
        (sample,) = [
            s for s in families["ALERTS"].samples if s.label_dict["alertname"] == "AlwaysUp"
        ]
        assert sample.label_dict["alertstate"] == "firing" and sample.value == 1
        counts = {s.label_dict["state"]: s.value for s in families["aiops_agent_alerts"].samples}
        assert counts["firing"] >= 1

        logged = wait_for(
            lambda: [
                r
                for r in agent.log_records()
                if r.get("msg") == "alert firing" and r.get("alertname") == "AlwaysUp"
            ],
            "the firing alert in the log",
        )
        assert len(logged) == 1  # once; the repeat interval is an hour

        # the mutating endpoint refuses what a browser on another site could send
        plain = {"Content-Type": "text/plain"}
        assert call(agent.url, "POST", "/api/v1/silences", SILENCE, plain)[0] == 415
        evil = {"Content-Type": "application/json", "Origin": "http://evil.example"}
        assert call(agent.url, "POST", "/api/v1/silences", SILENCE, evil)[0] == 403

        status, created = call(agent.url, "POST", "/api/v1/silences", SILENCE)
        assert status == 200, created
        silence_id = created["data"]["silenceId"]
        status, listed = call(agent.url, "GET", "/api/v1/silences")
        assert [(s["id"], s["status"]["state"]) for s in listed["data"]] == [(silence_id, "active")]
        assert (agent.directory / "state" / "silences.json").exists()
        wait_for(
            lambda: (firing(agent) or {}).get("silencedBy") == [silence_id], "the alert silenced"
        )
        families = parse_metrics(agent.metrics())
        muted = {
            s.label_dict["reason"]: s.value
            for s in families["aiops_agent_alerts_suppressed"].samples
        }
        assert muted["silenced"] >= 1

        status, _ = call(agent.url, "DELETE", f"/api/v1/silences?id={silence_id}")
        assert status == 200
        wait_for(
            lambda: (firing(agent) or {"silencedBy": ["?"]}).get("silencedBy") == [],
            "the silence expired",
        )

        # learned baselines: past a warm-up of 2 samples, the CPU series has a score
        scores = wait_for(
            lambda: parse_metrics(agent.metrics()).get("aiops_agent_anomaly_score"),
            "anomaly scores",
        )
        assert any(
            s.label_dict.get("series") == "aiops_agent_cpu_utilization_ratio"
            for s in scores.samples
        )
