"""Prometheus Alertmanager API v2: POST /api/v2/alerts with a list of alerts. Like Prometheus, the
delivery thread re-sends active alerts every resend_interval with endsAt a few intervals ahead
(Alertmanager resolves an alert whose endsAt passes), and resolved ones with their endsAt for
resolve_resend_for, in case Alertmanager missed the first resolve."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiops_agent.base.events import AlertEvent
from aiops_agent.config.notify_schema import AlertmanagerReceiver
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import format_time
from aiops_agent.notify.senders.transport import JsonPostSender

ENDS_AT_INTERVALS = 4  # as Prometheus: endsAt = now + 4 x resend interval while firing
API_PATH = "/api/v2/alerts"


def payload(
    events: Sequence[AlertEvent], settings: AlertmanagerReceiver, context: Context, now: float
) -> list[dict[str, Any]]:
    """Alertmanager groups alerts itself: each notification holds one alert (groups=False)."""
    base = (settings.external_url or context.agent_url).rstrip("/")
    alerts = []
    for event in events:
        ends_at = event.ends_at
        if event.status != "resolved" or ends_at is None:
            ends_at = now + ENDS_AT_INTERVALS * settings.resend_interval
        alerts.append(
            {
                "labels": event.labels,
                "annotations": event.annotations,
                "startsAt": format_time(event.starts_at),
                "endsAt": format_time(ends_at),
                "generatorURL": f"{base}/api/v1/alerts?rule={_quote(event.generator)}",
            }
        )
    return alerts


def build(settings: AlertmanagerReceiver, context: Context) -> Sender:
    headers = {name: value.reveal() for name, value in settings.headers.items()}
    sender = JsonPostSender(
        settings.url.reveal().rstrip("/") + API_PATH,
        settings.timeout,
        lambda notifications: payload(
            [e for n in notifications for e in n.alerts], settings, context, time.time()
        ),
        lambda notifications, body: headers,
        max_batch=64,
    )
    sender.resend_interval = settings.resend_interval
    sender.resolve_resend_for = settings.resolve_resend_for
    return sender


def _quote(text: str) -> str:
    """Percent-encode a query value (requests, which sends this, loads urllib.parse anyway)."""
    from urllib.parse import quote  # noqa: PLC0415

    return quote(text)
