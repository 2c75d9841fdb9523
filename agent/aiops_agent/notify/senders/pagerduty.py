"""PagerDuty Events API v2: one incident per group of alerts. A notification of a group with
firing alerts triggers (or updates) the incident, the one that tells its last alert resolved
resolves it; both are keyed by the group's id as dedup_key, so PagerDuty folds repeats,
additions and re-deliveries into one incident. An alert sent on its own (no group) is keyed by
its fingerprint."""

from __future__ import annotations

from typing import Any

from aiops_agent.base.events import AlertEvent
from aiops_agent.config.notify_schema import PagerDutyReceiver
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import (
    alert_name,
    format_time,
    group_title,
    json_value,
    severity,
    shared_processes,
)
from aiops_agent.notify.senders.transport import JsonPostSender, idempotency_key

SEVERITIES = ("critical", "error", "warning", "info")  # most severe first
SUMMARY_LIMIT = 1024  # PagerDuty rejects longer summaries


def dedup_key(notification: Notification) -> str:
    return notification.group or notification.alerts[0].fingerprint


def alert_details(event: AlertEvent) -> dict[str, Any]:
    details: dict[str, Any] = {
        "status": event.status,
        "labels": event.labels,
        "annotations": event.annotations,
        "value": json_value(event.value),
        "starts_at": format_time(event.starts_at),
    }
    if event.processes:
        details["context"] = event.context
        details["processes"] = [process.as_json() for process in event.processes]
    return details


def payload(
    notification: Notification, settings: PagerDutyReceiver, context: Context
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "routing_key": settings.routing_key.reveal(),
        "dedup_key": dedup_key(notification),
    }
    if notification.status == "resolved":
        document["event_action"] = "resolve"
        return document
    firing = [a for a in notification.alerts if a.status == "firing"]
    known = [severity(a) for a in firing if severity(a) in SEVERITIES]
    first = firing[0]
    details: dict[str, Any] = {
        "group": notification.labels,
        "alerts": [alert_details(event) for event in notification.alerts],
        "idempotency_key": notification.idempotency_key(),
    }
    shared = shared_processes(notification)
    if shared:  # the firing alerts' top processes, each PID once
        details["top_processes"] = [process.as_json() for process in shared]
    body: dict[str, Any] = {
        "summary": group_title(notification, context.hostname)[:SUMMARY_LIMIT],
        "source": first.labels.get("host") or context.hostname,
        "severity": min(known, key=SEVERITIES.index) if known else settings.default_severity,
        "timestamp": format_time(min(a.starts_at for a in firing)),
        "class": alert_name(first),
        "custom_details": details,
    }
    if first.labels.get("instance"):
        body["component"] = first.labels["instance"]
    document.update(
        event_action="trigger",
        payload=body,
        client="aiops-agent",
        client_url=context.agent_url,
    )
    return document


def build(settings: PagerDutyReceiver, context: Context) -> Sender:
    sender = JsonPostSender(
        settings.url,
        settings.timeout,
        lambda notifications: payload(notifications[0], settings, context),
        idempotency_key,
    )
    sender.groups = True
    return sender
