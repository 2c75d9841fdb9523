"""Wording shared by the human-facing formats (Slack, e-mail, log)."""

from __future__ import annotations

import math
from typing import Optional

from aiops_agent.base.events import RESOLVED_PREFIX, AlertEvent
from aiops_agent.base.processes import ProcessSummary, union
from aiops_agent.base.timefmt import format_time
from aiops_agent.notify.grouping import Notification

__all__ = [
    "alert_name",
    "body_lines",
    "format_time",
    "group_body_lines",
    "group_title",
    "json_value",
    "severity",
    "shared_processes",
    "title",
]


def alert_name(event: AlertEvent) -> str:
    return event.labels.get("alertname") or event.generator or "alert"


def severity(event: AlertEvent) -> str:
    return event.labels.get("severity", "")


def title(event: AlertEvent, hostname: str) -> str:
    """'[FIRING] HighLoad on web-1: load is high' - one line, fit for a subject or a push. A
    resolved summary's "Resolved: " is dropped here: the [RESOLVED] tag says it already."""
    host = event.labels.get("host") or hostname
    text = f"[{event.status.upper()}] {alert_name(event)} on {host}"
    summary = event.annotations.get("summary", "")
    if event.status == "resolved" and summary.startswith(RESOLVED_PREFIX):
        summary = summary[len(RESOLVED_PREFIX) :]
    return f"{text}: {summary}" if summary else text


def json_value(value: float) -> Optional[float]:
    """JSON has no NaN or infinity."""
    return value if math.isfinite(value) else None


def body_lines(event: AlertEvent) -> list[str]:
    lines = []
    if event.annotations.get("description"):
        lines += [event.annotations["description"], ""]
    when = " when resolved" if event.status == "resolved" else ""
    lines.append(f"Value{when}: {event.value:g}")
    lines.append(f"Started: {format_time(event.starts_at)}")
    if event.ends_at is not None:
        lines.append(f"Ended: {format_time(event.ends_at)}")
    lines += ["", "Labels:"] + [f"  {k} = {v}" for k, v in sorted(event.labels.items())]
    shown = ("summary", "description", "top_processes")
    extra = {k: v for k, v in event.annotations.items() if k not in shown}
    if extra:
        lines += ["Annotations:"] + [f"  {k} = {v}" for k, v in sorted(extra.items())]
    if event.processes:
        lines += ["", f"Top processes ({event.context}):"]
        lines += [f"  {process.describe(event.context)}" for process in event.processes]
    return lines


def shared_processes(notification: Notification) -> tuple[ProcessSummary, ...]:
    """The top processes of a group's firing alerts, each PID once, in the alerts' order."""
    return union(a.processes for a in notification.alerts if a.status == "firing")


def group_title(notification: Notification, hostname: str) -> str:
    """One line for a group: an alert alone reads as title() does; several read
    '[FIRING:2] HighCPU, HighLoad on web-1 (1 resolved)', firing alerts counted."""
    alerts = notification.alerts
    if len(alerts) == 1:
        return title(alerts[0], hostname)
    firing = [a for a in alerts if a.status == "firing"]
    names = list(dict.fromkeys(alert_name(a) for a in (firing or alerts)))
    hosts = {a.labels.get("host") or hostname for a in alerts}
    host = notification.labels.get("host") or (hosts.pop() if len(hosts) == 1 else hostname)
    if not firing:
        return f"[RESOLVED:{len(alerts)}] {', '.join(names)} on {host}"
    resolved = len(alerts) - len(firing)
    text = f"[FIRING:{len(firing)}] {', '.join(names)} on {host}"
    return f"{text} ({resolved} resolved)" if resolved else text


def group_body_lines(notification: Notification, hostname: str) -> list[str]:
    """body_lines() of each alert, each under its title when there are several."""
    alerts = notification.alerts
    if len(alerts) == 1:
        return body_lines(alerts[0])
    lines: list[str] = []
    for alert in alerts:
        lines += [title(alert, hostname), "", *body_lines(alert), "", "-" * 8]
    return lines[:-2]
