"""The alert lifecycle and its notifications: firing, repeat, resolve, inhibition of warning by
critical, silences, stale series and removed rules, fingerprints and idempotency keys."""

from __future__ import annotations

from collections.abc import Mapping

from aiops_agent.alerting.lifecycle import FIRING, Lifecycle
from aiops_agent.base.events import AlertEvent
from aiops_agent.base.fingerprint import fingerprint
from aiops_agent.base.model import Labels
from aiops_agent.config.alerting_schema import RuleSettings
from aiops_agent.config.types import Duration
from aiops_agent.detection.rules import Rule

SERIES: Labels = (("mountpoint", "/"),)
RULE = Rule(
    RuleSettings(
        name="Disk", metric="m", warning=0.8, critical=0.9, hysteresis=0.0, for_=Duration(0.0)
    )
)


class Harness:
    def __init__(self, repeat: float = 100.0, resolve_timeout: float = 30.0) -> None:
        self.lifecycle = Lifecycle("h1", "h1:9877", repeat, resolve_timeout, 100)
        self.events: list[AlertEvent] = []
        self.silenced: dict[str, str] = {}  # label value that silences -> silence id

    def silencer(self, labels: Mapping[str, str], now: float) -> list[str]:
        return [sid for value, sid in self.silenced.items() if value in labels.values()]

    def step(self, now: float, value: float | None, rules: tuple[Rule, ...] = (RULE,)) -> list[str]:
        """Evaluate one snapshot (value None: the series is absent) and return the events as
        'severity:status' strings."""
        for r in rules:
            self.lifecycle.evaluate(r, {} if value is None else {SERIES: value}, now)
        new = self.lifecycle.finish(now, [r.name for r in rules], self.silencer)
        self.events.extend(new)
        return [f"{e.labels['severity']}:{e.status}" for e in new]


def test_firing_repeat_and_resolve_notifications() -> None:
    h = Harness(repeat=100.0)
    assert h.step(0, 0.85) == ["warning:firing"]
    assert h.step(50, 0.85) == []
    assert h.step(100, 0.85) == ["warning:firing"]  # repeat interval passed
    assert h.step(150, 0.85) == []
    assert h.step(160, 0.5) == ["warning:resolved"]
    first, repeat, resolved = h.events
    assert first.fingerprint == repeat.fingerprint == resolved.fingerprint
    assert [e.sequence for e in h.events] == [1, 2, 3]
    assert resolved.ends_at == 160 and first.ends_at is None
    assert first.starts_at == resolved.starts_at == 0
    assert len({e.idempotency_key() for e in h.events}) == 3
    assert first.labels == {
        "alertname": "Disk",
        "severity": "warning",
        "host": "h1",
        "instance": "h1:9877",
        "mountpoint": "/",
    }
    assert "0.85" in first.annotations["description"] and "0.8" in first.annotations["description"]


def test_pending_alert_that_never_fires_sends_nothing() -> None:
    h = Harness()
    slow = Rule(RuleSettings(name="Slow", metric="m", warning=0.8, for_=Duration(60.0)))
    assert h.step(0, 0.85, (slow,)) == []
    assert h.step(30, 0.85, (slow,)) == []
    assert h.step(40, 0.5, (slow,)) == []
    assert h.events == []


def test_critical_inhibits_warning_of_the_same_rule_and_series() -> None:
    h = Harness()
    assert h.step(0, 0.95) == ["critical:firing"]  # warning holds too, but is inhibited
    warning = next(a for a in h.lifecycle.alerts() if a.severity == "warning")
    critical = next(a for a in h.lifecycle.alerts() if a.severity == "critical")
    assert warning.state == FIRING and warning.inhibited_by == [critical.fingerprint]
    # critical clears, warning still holds: now the warning is told
    assert h.step(10, 0.85) == ["critical:resolved", "warning:firing"]
    assert h.step(20, 0.5) == ["warning:resolved"]


def test_inhibition_is_per_series() -> None:
    h = Harness()
    other: Labels = (("mountpoint", "/data"),)
    h.lifecycle.evaluate(RULE, {SERIES: 0.95, other: 0.85}, 0.0)
    events = h.lifecycle.finish(0.0, ["Disk"])
    sent = sorted((e.labels["mountpoint"], e.labels["severity"]) for e in events)
    assert sent == [("/", "critical"), ("/data", "warning")]


def test_silence_mutes_firing_and_repeat_and_unmuting_notifies() -> None:
    h = Harness(repeat=100.0)
    h.silenced["/"] = "s1"
    assert h.step(0, 0.85) == []
    assert h.lifecycle.alerts()[0].silenced_by == ["s1"]
    assert h.step(200, 0.85) == []  # no repeat while silenced
    del h.silenced["/"]
    assert h.step(210, 0.85) == ["warning:firing"]


def test_silenced_alert_that_was_never_notified_resolves_quietly() -> None:
    h = Harness()
    h.silenced["/"] = "s1"
    h.step(0, 0.85)
    assert h.step(10, 0.5) == []


def test_alert_notified_before_a_silence_still_sends_its_resolve() -> None:
    h = Harness()
    assert h.step(0, 0.85) == ["warning:firing"]
    h.silenced["/"] = "s1"
    assert h.step(10, 0.85) == []
    assert h.step(20, 0.5) == ["warning:resolved"]


def test_vanished_series_resolves_after_the_resolve_timeout() -> None:
    h = Harness(resolve_timeout=30.0)
    assert h.step(0, 0.85) == ["warning:firing"]
    assert h.step(20, None) == []
    assert h.step(31, None) == ["warning:resolved"]
    assert len(h.lifecycle) == 0


def test_removed_rule_resolves_its_alerts() -> None:
    h = Harness()
    assert h.step(0, 0.85) == ["warning:firing"]
    assert h.step(10, 0.85, rules=()) == ["warning:resolved"]


def test_refiring_after_resolve_gets_a_new_idempotency_key() -> None:
    h = Harness()
    h.step(0, 0.85)
    h.step(10, 0.5)
    h.step(20, 0.85)
    keys = [e.idempotency_key() for e in h.events]
    assert len(set(keys)) == 3
    assert h.events[0].fingerprint == h.events[2].fingerprint


def test_fingerprint_is_stable_and_order_independent() -> None:
    a = fingerprint({"alertname": "Disk", "mountpoint": "/"})
    b = fingerprint({"mountpoint": "/", "alertname": "Disk"})
    assert a == b and len(a) == 16
    assert a != fingerprint({"alertname": "Disk", "mountpoint": "/data"})
    # a label value containing the separator cannot collide with a different split
    assert fingerprint({"a": "b\xffc"}) != fingerprint({"a": "b", "c": ""})


def test_max_alerts_caps_tracked_alerts() -> None:
    lifecycle = Lifecycle("h", "h:1", 100.0, 30.0, max_alerts=2)
    series = {(("n", str(i)),): 0.85 for i in range(5)}
    lifecycle.evaluate(RULE, series, 0.0)
    assert len(lifecycle) == 2 and lifecycle.dropped == 3


def test_alert_metrics_look_like_prometheus_alerts() -> None:
    h = Harness()
    h.step(0, 0.85)
    families = {f.name: f for f in h.lifecycle.metrics()}
    (sample,) = families["ALERTS"].samples
    labels = dict(sample.labels)
    assert labels["alertname"] == "Disk" and labels["alertstate"] == "firing"
    assert labels["severity"] == "warning" and labels["mountpoint"] == "/"
    counts = {dict(s.labels)["state"]: s.value for s in families["aiops_agent_alerts"].samples}
    assert counts == {"pending": 0.0, "firing": 1.0}
