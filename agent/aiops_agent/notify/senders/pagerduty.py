"""PagerDuty Events API v2: trigger on firing, resolve on resolved, both keyed by the alert's
fingerprint as dedup_key, so PagerDuty folds repeats and re-deliveries into one incident."""

from __future__ import annotations

from typing import Any

from aiops_agent.base.events import AlertEvent
from aiops_agent.config.notify_schema import PagerDutyReceiver
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import alert_name, format_time, json_value, severity, title
from aiops_agent.notify.senders.transport import JsonPostSender, idempotency_key

SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_LIMIT = 1024  # PagerDuty rejects longer summaries


def payload(event: AlertEvent, settings: PagerDutyReceiver, context: Context) -> dict[str, Any]:
    document: dict[str, Any] = {
        "routing_key": settings.routing_key.reveal(),
        "dedup_key": event.fingerprint,
    }
    if event.status == "resolved":
        document["event_action"] = "resolve"
        return document
    level = severity(event)
    details: dict[str, Any] = {
        "labels": event.labels,
        "annotations": event.annotations,
        "value": json_value(event.value),
        "idempotency_key": event.idempotency_key(),
    }
    if event.processes:
        details["context"] = event.context
        details["top_processes"] = [process.as_json() for process in event.processes]
    body: dict[str, Any] = {
        "summary": title(event, context.hostname)[:SUMMARY_LIMIT],
        "source": event.labels.get("host") or context.hostname,
        "severity": level if level in SEVERITIES else settings.default_severity,
        "timestamp": format_time(event.starts_at),
        "class": alert_name(event),
        "custom_details": details,
    }
    if event.labels.get("instance"):
        body["component"] = event.labels["instance"]
    document.update(
        event_action="trigger",
        payload=body,
        client="aiops-agent",
        client_url=context.agent_url,
    )
    return document


def build(settings: PagerDutyReceiver, context: Context) -> Sender:
    return JsonPostSender(
        settings.url,
        settings.timeout,
        lambda events: payload(events[0], settings, context),
        idempotency_key,
    )
