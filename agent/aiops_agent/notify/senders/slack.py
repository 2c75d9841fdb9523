"""Slack incoming webhooks: one message per group of alerts, a one-line text (what notifications
and old clients show) plus an attachment per alert coloured by severity, with the labels as
fields; resolves are green."""

from __future__ import annotations

from typing import Any

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.processes import annotation
from aiops_agent.config.notify_schema import SlackReceiver
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import (
    alert_name,
    format_time,
    group_title,
    severity,
    title,
)
from aiops_agent.notify.senders.transport import JsonPostSender, idempotency_key

COLOURS = {"critical": "#d63232", "error": "#e8590c", "warning": "#daa038", "info": "#3aa3e3"}
RESOLVED_COLOUR = "#2eb67d"
DEFAULT_COLOUR = "#daa038"


MAX_ATTACHMENTS = 20  # alerts shown one by one; more are counted in a last attachment


def top_processes_field(event: AlertEvent) -> list[dict[str, Any]]:
    """The alert's top processes, one per line, as a full-width field."""
    if not event.processes:
        return []
    lines = annotation(event.context, event.processes)
    return [{"title": f"Top processes ({event.context})", "value": lines, "short": False}]


def attachment(event: AlertEvent, context: Context) -> dict[str, Any]:
    resolved = event.status == "resolved"
    shown = {k: v for k, v in sorted(event.labels.items()) if k != "alertname"}
    body = event.annotations.get("description") or event.annotations.get("summary", "")
    times = f"Started {format_time(event.starts_at)}"
    if event.ends_at is not None:
        times += f", ended {format_time(event.ends_at)}"
    value = f"value when resolved {event.value:g}" if resolved else f"value {event.value:g}"
    return {
        "color": RESOLVED_COLOUR if resolved else COLOURS.get(severity(event), DEFAULT_COLOUR),
        "fallback": title(event, context.hostname),
        "title": f"{'Resolved' if resolved else 'Firing'}: {alert_name(event)}",
        "text": f"{body}\n{times}; {value}".lstrip(),
        "fields": [{"title": k, "value": v, "short": True} for k, v in shown.items()]
        + top_processes_field(event),
        "footer": f"aiops-agent on {context.hostname}",
        "ts": int(event.ends_at if resolved and event.ends_at else event.starts_at),
    }


def payload(
    notification: Notification, settings: SlackReceiver, context: Context
) -> dict[str, Any]:
    """One message per group: its title as text, an attachment per alert."""
    alerts = notification.alerts
    attachments = [attachment(event, context) for event in alerts[:MAX_ATTACHMENTS]]
    if len(alerts) > MAX_ATTACHMENTS:
        more = f"and {len(alerts) - MAX_ATTACHMENTS} more alerts"
        attachments.append({"color": DEFAULT_COLOUR, "fallback": more, "text": more})
    document: dict[str, Any] = {
        "text": group_title(notification, context.hostname),
        "attachments": attachments,
    }
    if settings.channel:
        document["channel"] = settings.channel
    if settings.username:
        document["username"] = settings.username
    return document


def build(settings: SlackReceiver, context: Context) -> Sender:
    # Slack ignores Idempotency-Key; proxies in between may not.
    sender = JsonPostSender(
        settings.url.reveal(),
        settings.timeout,
        lambda notifications: payload(notifications[0], settings, context),
        idempotency_key,
    )
    sender.groups = True
    return sender
