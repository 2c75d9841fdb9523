"""The default receiver: one log line per notification, so a fresh agent shows its alerts in its
own log (journald, kubectl logs) with nothing configured."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiops_agent.config.notify_schema import LogReceiver
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.outcome import ACCEPTED, Outcome
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import alert_name, format_time

alerts_log = logging.getLogger("aiops_agent.alerts")


class LogSender(Sender):
    max_batch = 1000

    def __init__(self, settings: LogReceiver, context: Context) -> None:
        self._level = logging.getLevelName(settings.level.upper())
        self._context = context

    def send(self, notifications: Sequence[Notification]) -> Outcome:
        """One line per alert: log lines are read one by one, and grep finds each alert."""
        for event in (event for n in notifications for event in n.alerts):
            firing = event.status == "firing"
            fields = {
                "alertname": alert_name(event),
                "status": event.status,
                "severity": event.labels.get("severity", ""),
                "fingerprint": event.fingerprint,
                "value": event.value,
                "summary": event.annotations.get("summary", ""),
                "labels": ",".join(f"{k}={v}" for k, v in sorted(event.labels.items())),
                "starts_at": format_time(event.starts_at),
                "idempotency_key": event.idempotency_key(),
            }
            if event.ends_at is not None:
                fields["ends_at"] = format_time(event.ends_at)
            level = self._level if firing else logging.INFO
            alerts_log.log(level, f"alert {event.status}", extra=fields)
        return ACCEPTED
