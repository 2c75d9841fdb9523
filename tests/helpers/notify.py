"""For tests of the notifier in-process: an alert event, the senders' context, a dispatcher's config
from plain data (fast retries) and the value of its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aiops_agent import __version__
from aiops_agent.base.events import AlertEvent
from aiops_agent.config import Config, load_config
from aiops_agent.notify.dispatcher import Dispatcher
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.senders import Context

HOST = "testhost"
AGENT_URL = "http://testhost:9877"  # what the tests' dispatchers are told for links back
CONTEXT = Context("", HOST, AGENT_URL, __version__)
FAST_OUTBOX = {"backoff_base": "50ms", "backoff_max": "500ms"}


def config_for(
    tmp_path: Path, receivers: dict[str, Any], routes: list[Any], **outbox: Any
) -> Config:
    document = {
        "agent": {"hostname": HOST},
        "http": {"listen": "127.0.0.1:9877"},
        "receivers": receivers,
        "routes": routes,
        "outbox": {**FAST_OUTBOX, **outbox},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_config(str(path), {}, required=True)


def metric(dispatcher: Dispatcher, name: str, **labels: str) -> float:
    """The sum of the samples of family `name` whose labels include `labels`."""
    total = 0.0
    for family in dispatcher.metrics():
        if family.name == name:
            for sample_labels, value, _ in family.samples:
                if all(dict(sample_labels).get(k) == v for k, v in labels.items()):
                    total += value
    return total


def alert(
    n: int = 1, status: str = "firing", severity: str = "critical", **extra: str
) -> AlertEvent:
    return AlertEvent(
        fingerprint=f"{n:016x}",
        status=status,
        labels={
            "alertname": "HighLoad",
            "severity": severity,
            "host": "web-1",
            "n": str(n),
            **extra,
        },
        annotations={"summary": "load is high", "description": "load1 above 4"},
        starts_at=1700000000.0,
        ends_at=1700000600.0 if status == "resolved" else None,
        value=4.5,
        generator="high_load",
        sequence=1 if status == "firing" else 2,
    )


def as_received(body: dict[str, Any], *events: AlertEvent) -> Notification:
    """The notification of `events` in the group a received webhook body names (a group's id
    holds the time it was created, which a test cannot know in advance)."""
    group = body["group"]
    return Notification(events, group["key"], group["labels"], group["sequence"])


def alerts_in(bodies: list[Any]) -> list[tuple[str, str]]:
    """(fingerprint, status) of every alert of the webhook bodies, in order."""
    return [(a["fingerprint"], a["status"]) for body in bodies for a in body["alerts"]]
