"""The hand-off between alert evaluation (alerting/) and notification (notify/): one immutable
event per notification. In the base layer so that neither side imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from aiops_agent.base.processes import ProcessSummary

# Starts the summary of a resolved notification unless the rule words its own (resolved_summary).
RESOLVED_PREFIX = "Resolved: "


@dataclass(frozen=True)
class AlertEvent:
    fingerprint: str  # stable id of the alert: sha256 of its sorted labels, 16 hex chars
    status: str  # "firing" | "resolved"
    labels: dict[str, str]  # alertname, severity, host, instance and the series' labels
    annotations: dict[str, str]  # summary, description
    starts_at: float  # unix seconds
    ends_at: Optional[float]  # unix seconds when resolved, else None
    value: float
    generator: str  # rule name
    sequence: int  # increases with each notification of this alert (firing=1.., repeat, resolve)
    # The process context of a firing notification: the resource its rule names (rule key
    # `context`) and the top processes for it at that collection; empty when none. A grouped
    # notification lists each alert's and their union.
    context: str = ""
    processes: tuple[ProcessSummary, ...] = ()

    def idempotency_key(self) -> str:
        """The same for every delivery attempt of this notification, so a receiver (or the outbox
        after a crash) can drop duplicates; different for a repeat or the resolve."""
        return f"{self.fingerprint}-{self.status}-{self.sequence}-{round(self.starts_at * 1000)}"
