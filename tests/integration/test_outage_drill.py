"""Receiver outage drill: Alertmanager goes away for a while, alerts fire and resolve meanwhile, the
agent is SIGKILLed and restarted (same state directory) in the middle, and when Alertmanager comes
back every alert ends in the right state: the ones still firing are active in Alertmanager, the
ones that ended are resolved (absent from GET /api/v2/alerts), Alertmanager's webhook has seen the
last state of each, and the agent's outbox drains to zero.

The issue asks for an outage of several minutes. CI uses a shorter one (60 s) to keep the suite's
time reasonable; the length comes from AIOPS_DRILL_OUTAGE_SECONDS, so the long drill is

    AIOPS_DRILL_OUTAGE_SECONDS=600 pytest -s tests/integration/test_outage_drill.py

(the test's timeout grows with it). Alertmanager is restarted on the same port and storage path:
it keeps its notification log and silences there, but alerts only in memory, so everything it
holds after the outage is what the agent re-sent.

Alerts are driven by the clock: rules on node_time_seconds (the host's time, collected every
second) with thresholds at chosen instants, so an alert starts or ends at a known moment without
touching the host. Categories, each with PER_CATEGORY rules:

  Steady       fires before the outage, still firing at the end      -> active
  EndsEarly    fires before, ends during the outage (first agent)    -> resolved
  EndsLate     fires before, ends during the outage (second agent)   -> resolved
  StartsInside fires during the outage, still firing at the end      -> active
  Removed      fires before; the restarted agent's config drops it   -> resolved

Figures printed: notifications the agent had to deliver (sent), the ones Alertmanager's webhook
received, the ones lost, the outbox's largest depth and the time from Alertmanager's return to an
empty outbox with the final state reached.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.helpers.agentproc import running_agent
from tests.helpers.alertmanager import Alertmanager, WebhookSink, running_alertmanager, webhook_sink
from tests.promtext import parse as parse_metrics

pytestmark = pytest.mark.integration

OUTAGE = float(os.environ.get("AIOPS_DRILL_OUTAGE_SECONDS", "60"))
PER_CATEGORY = 3
BEFORE = 10.0  # seconds of normal operation before the outage
RECOVERY = 90.0  # bound on reaching the final state once Alertmanager is back
ACTIVE_AT_END = ("Steady", "StartsInside")
RESOLVED_AT_END = ("EndsEarly", "EndsLate", "Removed")


def rules(t0: float, include_removed: bool) -> list[dict[str, Any]]:
    outage_start = t0 + BEFORE
    moments = {
        # category: (direction, threshold): "below T" fires until T, "above T" fires from T on
        "Steady": ("above", t0 - 3600),
        "EndsEarly": ("below", outage_start + 0.2 * OUTAGE),
        "EndsLate": ("below", outage_start + 0.7 * OUTAGE),
        "StartsInside": ("above", outage_start + 0.2 * OUTAGE),
        "Removed": ("above", t0 - 3600),
    }
    found = []
    for category, (direction, threshold) in moments.items():
        if category == "Removed" and not include_removed:
            continue
        for index in range(1, PER_CATEGORY + 1):
            found.append(
                {
                    "name": f"{category}{index}",
                    "metric": "node_time_seconds",
                    "direction": direction,
                    # Spread a little, so alerts of a category do not all move in one evaluation.
                    "warning": threshold + (index - 1) * (1 if direction == "above" else -1),
                    "for": "2s",
                    "summary": f"{category} alert {index} on {{host}}",
                }
            )
    return found


def agent_config(state: Path, am_url: str, t0: float, first: bool) -> dict[str, Any]:
    return {
        # Listening on port 0 (running_agent's default): the alerts' instance label is then the
        # host name alone, the same for the agent and its restart on another port.
        "agent": {"interval": "1s", "hostname": "drill-host", "state_dir": str(state)},
        "collectors": {"filesystem": {"enabled": False}},
        "detection": {"rules": rules(t0, include_removed=first), "baselines": {"enabled": False}},
        "receivers": {"am": {"alertmanager": {"url": am_url, "resend_interval": "2s"}}},
        "routes": [{"receiver": "am"}],
        # Retries capped at 5 s so the drain after the outage is quick; the default cap is 5 min.
        "outbox": {"backoff_base": "200ms", "backoff_max": "5s"},
    }


class Watch:
    """Polls an agent's /metrics for the am outbox depth and the notification counters."""

    def __init__(self) -> None:
        self.max_depth = 0.0
        self.counters: dict[str, float] = {}

    def poll(self, port: int) -> Optional[dict[str, float]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                page = parse_metrics(answer.read().decode())
        except OSError:
            return None
        wanted = (("receiver", "am"),)
        values = {
            name: page[name].by_labels().get(wanted, 0.0)
            for name in (
                "aiops_agent_outbox_queue_depth",
                "aiops_agent_notifications_submitted_total",
                "aiops_agent_notifications_sent_total",
                "aiops_agent_notifications_attempts_total",
                "aiops_agent_notifications_resends_total",
            )
            if name in page
        }
        self.max_depth = max(self.max_depth, values.get("aiops_agent_outbox_queue_depth", 0.0))
        return values


def sleep_watching(seconds: float, watch: Watch, port: int) -> Optional[dict[str, float]]:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = watch.poll(port) or last
        time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
    return last


def final_state_reached(am: Alertmanager, sink: WebhookSink, names: dict[str, str]) -> list[str]:
    """What is still wrong (empty: everything is in its final state)."""
    problems = []
    try:
        active = {a["labels"]["alertname"] for a in am.alerts()}
    except OSError as error:
        return [f"alertmanager: {error}"]
    for name, expected in names.items():
        if expected == "active" and name not in active:
            problems.append(f"{name} not active in Alertmanager")
        if expected == "resolved" and name in active:
            problems.append(f"{name} still active in Alertmanager")
        seen = [a["status"] for a in sink.alerts(name)]
        want = "firing" if expected == "active" else "resolved"
        if not seen or seen[-1] != want:
            problems.append(f"{name}: webhook saw {seen}, want {want} last")
    return problems


@pytest.mark.timeout(int(OUTAGE) + 300)
def test_alertmanager_outage_with_agent_restart(tmp_path: Path) -> None:
    print(f"\noutage drill: Alertmanager down for {OUTAGE:.0f} s (AIOPS_DRILL_OUTAGE_SECONDS)")
    state = tmp_path / "state"
    t0 = time.time()
    expected = {
        rule["name"]: (
            "active" if rule["name"].rstrip("0123456789") in ACTIVE_AT_END else "resolved"
        )
        for rule in rules(t0, include_removed=True)
    }
    watch = Watch()
    with webhook_sink() as sink, running_alertmanager(sink.url) as am:
        with running_agent(agent_config(state, am.url, t0, True)) as first:
            sleep_watching(t0 + BEFORE - time.time(), watch, first.port)
            before = {a["labels"]["alertname"] for a in am.alerts()}
            fired_before = {n for n in expected if not n.startswith("StartsInside")}
            assert fired_before <= before, f"not active before the outage: {fired_before - before}"

            am.stop()
            outage_started = time.monotonic()
            first_counters = sleep_watching(0.4 * OUTAGE, watch, first.port) or {}
            first.kill()
        killed_at = time.monotonic() - outage_started

        second = agent_config(state, am.url, t0, False)
        with running_agent(second) as agent:
            sleep_watching(OUTAGE - (time.monotonic() - outage_started), watch, agent.port)
            am.start()
            back = time.monotonic()
            outage = back - outage_started
            problems = ["not checked"]
            counters: dict[str, float] = {}
            while time.monotonic() - back < RECOVERY:
                counters = watch.poll(agent.port) or counters
                problems = final_state_reached(am, sink, expected)
                if not problems and counters.get("aiops_agent_outbox_queue_depth", -1) == 0:
                    break
                time.sleep(0.5)
            drained = time.monotonic() - back
            stderr = agent.stderr_text()

    fired = [n for n in expected]  # every alert fired (StartsInside during the outage)
    ended = [n for n, state_ in expected.items() if state_ == "resolved"]
    sent = len(fired) + len(ended)
    received = sum("firing" in {a["status"] for a in sink.alerts(n)} for n in fired) + sum(
        "resolved" in {a["status"] for a in sink.alerts(n)} for n in ended
    )
    print(
        f"outage {outage:.1f} s, agent SIGKILLed {killed_at:.1f} s into it and restarted; "
        f"{len(expected)} alerts ({PER_CATEGORY} per category)\n"
        f"notifications to deliver (firing + resolved): sent {sent}, received at the webhook "
        f"behind Alertmanager {received}, lost {sent - received}\n"
        f"outbox max depth {watch.max_depth:.0f}; final state and empty outbox {drained:.1f} s "
        f"after Alertmanager returned\n"
        f"agent counters (am receiver), first run until SIGKILL: "
        f"{json.dumps(first_counters, sort_keys=True)}; second run: "
        f"{json.dumps(counters, sort_keys=True)}\n"
        f"webhook notifications from Alertmanager: {len(sink.notifications())}"
    )
    assert not problems, (
        f"after {RECOVERY:.0f} s: {problems}\nsecond agent:\n{stderr[-3000:]}\n"
        f"alertmanager:\n{am.log_text()[-2000:]}"
    )
    assert counters.get("aiops_agent_outbox_queue_depth") == 0, counters
    assert sent == received
    assert watch.max_depth > 0, "nothing waited in the outbox: was Alertmanager really down?"
