"""The alert lifecycle: inactive -> pending -> firing -> resolved, per rule, level and series; and
what gets notified: firing once, again every repeat interval while firing, and resolved, except
while a silence matches or a critical alert of the same rule and series inhibits a warning.

An alert that was notified is also notified when it resolves, even if it was silenced or
inhibited meanwhile: whoever was told it fired should learn that it ended. Its resolve carries the
value at that moment and annotations worded for the resolved state.

The state survives restarts (alertstore.py saves it whenever it changes): restore() takes the saved
alerts back before the first evaluation, with their activeAt, startsAt, notification time and
sequence, so an alert that still holds keeps its startsAt and is not re-notified before its repeat
interval, `for` clocks continue, and one that cleared meanwhile resolves at the first evaluation."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Callable, Optional

from aiops_agent.base.events import RESOLVED_PREFIX, AlertEvent
from aiops_agent.base.fingerprint import fingerprint
from aiops_agent.base.model import Labels, MetricFamily, Sample, gauge
from aiops_agent.base.processes import ProcessSummary
from aiops_agent.base.timefmt import format_time
from aiops_agent.detection.rules import Level, Rule

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
WARNING, CRITICAL = "warning", "critical"

AlertKey = tuple[str, str, Labels]  # rule name, severity, series labels
# Given an alert's labels and the time, the ids of the silences that match it.
Silencer = Callable[[Mapping[str, str], float], list[str]]


class Alert:
    __slots__ = (
        "active_at",
        "annotations",
        "context",
        "fingerprint",
        "inhibited_by",
        "key",
        "labels",
        "last_notified",
        "last_seen",
        "notified",
        "processes",
        "rule_name",
        "sequence",
        "severity",
        "silenced_by",
        "starts_at",
        "state",
        "threshold",
        "value",
    )

    def __init__(self, key: AlertKey, labels: dict[str, str], now: float) -> None:
        self.key = key
        self.rule_name, self.severity, _ = key
        self.labels = labels
        self.fingerprint = fingerprint(labels)
        self.state = PENDING
        self.active_at = now  # when the condition began (Prometheus' activeAt)
        self.starts_at: Optional[float] = None  # when it began firing
        self.last_seen = now
        self.value = 0.0
        self.threshold = 0.0
        self.annotations: dict[str, str] = {}
        # The process context (the rule's `context` resource and its top processes), refreshed
        # each evaluation by the alerting plugin; not saved across restarts.
        self.context = ""
        self.processes: tuple[ProcessSummary, ...] = ()
        self.notified = False  # a firing notification went out and no resolve yet
        self.last_notified = 0.0
        self.sequence = 0
        self.silenced_by: list[str] = []
        self.inhibited_by: list[str] = []

    def event(self, status: str, now: float) -> AlertEvent:
        self.sequence += 1
        return AlertEvent(
            fingerprint=self.fingerprint,
            status=status,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            starts_at=self.starts_at if self.starts_at is not None else self.active_at,
            ends_at=now if status == RESOLVED else None,
            value=self.value,
            generator=self.rule_name,
            sequence=self.sequence,
            context=self.context if status == FIRING else "",
            processes=self.processes if status == FIRING else (),
        )

    def as_json(self) -> dict[str, object]:
        return {
            "labels": self.labels,
            "annotations": self.annotations,
            "state": self.state,
            "activeAt": format_time(self.active_at),
            "startsAt": format_time(self.starts_at) if self.starts_at is not None else None,
            "value": self.value,
            "threshold": self.threshold,
            "fingerprint": self.fingerprint,
            "generator": self.rule_name,
            "silencedBy": list(self.silenced_by),
            "inhibitedBy": list(self.inhibited_by),
            "context": self.context,
            "processes": [process.as_json() for process in self.processes],
        }


class Lifecycle:
    """Fed once per snapshot: evaluate() for each rule's values, then finish() for the events."""

    def __init__(
        self,
        host: str,
        instance: str,
        repeat_interval: float,
        resolve_timeout: float,
        max_alerts: int,
    ) -> None:
        self.host = host
        self.instance = instance
        self.repeat_interval = repeat_interval
        self.resolve_timeout = resolve_timeout
        self.max_alerts = max_alerts
        self.dropped = 0  # alerts not tracked because max_alerts was reached (a counter)
        # Something worth saving happened (an alert began, fired, was notified or ended); the
        # owner saves and clears it. Values alone do not count: they change every evaluation.
        self.changed = False
        self._alerts: dict[AlertKey, Alert] = {}
        self._events: list[AlertEvent] = []

    def __len__(self) -> int:
        return len(self._alerts)

    def alerts(self) -> list[Alert]:
        return list(self._alerts.values())

    def evaluate(
        self,
        rule: Rule,
        values: Mapping[Labels, float],
        now: float,
        details: Optional[Callable[[Labels], Mapping[str, str]]] = None,
    ) -> None:
        """`details` gives extra annotation fields of a series (see Rule.annotations)."""
        for series, value in values.items():
            extra = details(series) if details is not None else None
            for level in rule.levels:
                key = (rule.name, level.severity, series)
                alert = self._alerts.get(key)
                if rule.breached(level, value, active=alert is not None):
                    if alert is None:
                        if len(self._alerts) >= self.max_alerts:
                            self.dropped += 1
                            continue
                        alert = self._alerts[key] = Alert(key, self.labels(key), now)
                        self.changed = True
                    self._update(alert, rule, level, value, now, details=extra)
                elif alert is not None:
                    alert.value = value
                    annotations = rule.annotations(alert.labels, value, level, True, extra)
                    self._end(alert, now, annotations)

    def labels(self, key: AlertKey) -> dict[str, str]:
        """The labels of the alert with this key: the series' and alertname, severity, host and
        instance."""
        rule_name, severity, series = key
        labels = dict(series)
        labels.update(
            alertname=rule_name, severity=severity, host=self.host, instance=self.instance
        )
        return labels

    def restore(self, alerts: Iterable[Alert], now: float) -> int:
        """Take back alerts saved by a previous run, before the first evaluation; returns how
        many were left out because max_alerts is lower now. Each is treated as seen now, so
        resolve_timeout counts from the restart and an agent that was down for a day evaluates
        its alerts against fresh data instead of resolving them as stale. One whose labels
        changed meanwhile (the host or instance name) is resolved: the alert under the new
        labels is another one, and fires anew if its condition still holds."""
        # Notified firing alerts first: dropping one of those would leave a page never resolved.
        ranked = sorted(alerts, key=lambda a: (not a.notified, a.state != FIRING, a.active_at))
        left_out = 0
        for alert in ranked:
            if alert.key in self._alerts:
                continue
            if len(self._alerts) >= self.max_alerts:
                left_out += 1
                continue
            alert.last_seen = now
            self._alerts[alert.key] = alert
            if alert.labels != self.labels(alert.key):
                self._end(
                    alert,
                    now,
                    _gone(
                        alert,
                        "The agent's host or instance name changed since this alert fired; if "
                        "its condition still holds, it fires again under the new labels.",
                    ),
                )
        self.changed = True
        return left_out

    def _update(
        self,
        alert: Alert,
        rule: Rule,
        level: Level,
        value: float,
        now: float,
        *,
        details: Optional[Mapping[str, str]] = None,
    ) -> None:
        alert.value = value
        alert.threshold = level.threshold
        alert.last_seen = now
        alert.annotations = rule.annotations(alert.labels, value, level, details=details)
        if alert.state == PENDING and now - alert.active_at >= rule.for_seconds:
            alert.state = FIRING
            alert.starts_at = now
            self.changed = True

    def _end(self, alert: Alert, now: float, annotations: dict[str, str]) -> None:
        del self._alerts[alert.key]
        self.changed = True
        if alert.state == FIRING and alert.notified:
            alert.annotations = annotations
            self._events.append(alert.event(RESOLVED, now))

    def finish(
        self,
        now: float,
        rule_names: Iterable[str],
        silencer: Optional[Silencer] = None,
        levels: Optional[Collection[tuple[str, str]]] = None,
    ) -> list[AlertEvent]:
        """Resolve alerts whose series went away (after resolve_timeout), whose rule was removed
        or, given the (rule name, severity) pairs configured as `levels`, whose rule no longer
        has their level; apply inhibition and silences, and return the notifications due."""
        configured = set(rule_names)
        for alert in list(self._alerts.values()):
            removed = alert.rule_name not in configured or (
                levels is not None and (alert.rule_name, alert.severity) not in levels
            )
            if removed:
                why = (
                    f"The rule, or its {alert.severity} level, was removed from the configuration."
                )
                self._end(alert, now, _gone(alert, why))
            elif now - alert.last_seen > self.resolve_timeout:
                why = (
                    f"No value for this series for {self.resolve_timeout:g}s: it is no longer "
                    f"collected, or the rule cannot compute it. The last value was "
                    f"{alert.value:.4g}."
                )
                self._end(alert, now, _gone(alert, why))
        for alert in self._alerts.values():
            alert.inhibited_by = self._inhibitors(alert)
            alert.silenced_by = silencer(alert.labels, now) if silencer else []
            if alert.state != FIRING or alert.inhibited_by or alert.silenced_by:
                continue
            if not alert.notified or now - alert.last_notified >= self.repeat_interval:
                self._events.append(alert.event(FIRING, now))
                alert.notified = True
                alert.last_notified = now
                self.changed = True
        events, self._events = self._events, []
        return events

    def _inhibitors(self, alert: Alert) -> list[str]:
        """A firing critical alert of the same rule and series inhibits the warning one."""
        if alert.severity != WARNING:
            return []
        rule_name, _, series = alert.key
        critical = self._alerts.get((rule_name, CRITICAL, series))
        return [critical.fingerprint] if critical and critical.state == FIRING else []

    def metrics(self) -> list[MetricFamily]:
        alerts = sorted(self._alerts.values(), key=lambda a: (a.rule_name, a.fingerprint))
        counts = {PENDING: 0, FIRING: 0}
        suppressed = {"silenced": 0, "inhibited": 0}
        samples = []
        for alert in alerts:
            counts[alert.state] += 1
            suppressed["silenced"] += bool(alert.silenced_by)
            suppressed["inhibited"] += bool(alert.inhibited_by)
            labels = {**alert.labels, "alertstate": alert.state}
            samples.append(Sample(tuple(sorted(labels.items())), 1.0))
        return [
            gauge("ALERTS", "Alerts pending or firing, as in Prometheus.", samples),
            gauge(
                "aiops_agent_alerts",
                "Alerts by state.",
                [Sample((("state", state),), float(n)) for state, n in counts.items()],
            ),
            gauge(
                "aiops_agent_alerts_suppressed",
                "Firing or pending alerts not notified, by reason.",
                [Sample((("reason", reason),), float(n)) for reason, n in suppressed.items()],
            ),
        ]


def _gone(alert: Alert, why: str) -> dict[str, str]:
    """Annotations for an alert that ends without its condition clearing (no fresh value to
    render them with): its last summary marked resolved, and why it ended as description."""
    summary = alert.annotations.get("summary") or alert.rule_name
    if not summary.startswith(RESOLVED_PREFIX):
        summary = RESOLVED_PREFIX + summary
    # The process context describes the firing state: a resolve carries none.
    kept = {k: v for k, v in alert.annotations.items() if k != "top_processes"}
    return {**kept, "summary": summary, "description": why}
