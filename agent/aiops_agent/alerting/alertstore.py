"""Alert state across restarts, in <state_dir>/alerts.json, the way silences.json keeps silences:

    {"version": 1, "savedAt": 1700000000.0, "alerts": [{"rule": ..., "severity": ...,
     "series": [[name, value], ...], "labels": {...}, "fingerprint": ..., "state": "firing",
     "activeAt": ..., "startsAt": ..., "notified": true, "lastNotifiedAt": ...,
     "lastNotifiedStatus": "firing", "sequence": 3, "value": ..., "threshold": ...,
     "annotations": {...}}, ...]}

Times are Unix seconds. The lifecycle marks itself changed when an alert begins, fires, is
notified or ends, and the plugin saves then (and at shutdown), so a steady state costs no writes;
the file holds at most max_alerts alerts. Written atomically; a file that cannot be used is set
aside and the agent starts without it, and a record that does not check out is skipped."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable
from typing import Any, Optional

from aiops_agent.alerting.lifecycle import FIRING, PENDING, Alert
from aiops_agent.base.fingerprint import fingerprint
from aiops_agent.base.statefile import read_records, write_atomically

log = logging.getLogger("aiops_agent.alerting")

FILE_NAME = "alerts.json"
VERSION = 1


class AlertStore:
    def __init__(self, state_dir: Optional[str]) -> None:
        self.path = os.path.join(state_dir, FILE_NAME) if state_dir else None

    def load(self) -> list[Alert]:
        if self.path is None:
            return []
        records = read_records(self.path, VERSION, "alerts")
        alerts, skipped = [], []
        for record in records or []:
            try:
                alerts.append(from_record(record))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                skipped.append(f"{type(error).__name__}: {error}")
        if skipped:
            log.error(
                "skipping saved alerts that do not check out",
                extra={"path": self.path, "count": len(skipped), "first_error": skipped[0]},
            )
        return alerts

    def save(self, alerts: Iterable[Alert]) -> None:
        """Raises OSError."""
        if self.path is None:
            return
        document = {
            "version": VERSION,
            "savedAt": time.time(),
            "alerts": [to_record(alert) for alert in alerts],
        }
        write_atomically(self.path, json.dumps(document).encode())


def to_record(alert: Alert) -> dict[str, Any]:
    rule_name, severity, series = alert.key
    return {
        "rule": rule_name,
        "severity": severity,
        "series": [list(pair) for pair in series],
        "labels": alert.labels,
        "fingerprint": alert.fingerprint,
        "state": alert.state,
        "activeAt": alert.active_at,
        "startsAt": alert.starts_at,
        "notified": alert.notified,
        "lastNotifiedAt": alert.last_notified if alert.notified else None,
        "lastNotifiedStatus": FIRING if alert.notified else None,
        "sequence": alert.sequence,
        "value": alert.value,
        "threshold": alert.threshold,
        "annotations": alert.annotations,
    }


def from_record(record: Any) -> Alert:
    """Raises KeyError, TypeError or ValueError for a record this agent did not write."""
    # In the order the collector gave them: that order is part of the key evaluation looks up.
    series = tuple((_text(name), _text(value)) for name, value in record["series"])
    labels = {_text(name): _text(value) for name, value in record["labels"].items()}
    if fingerprint(labels) != record["fingerprint"]:
        raise ValueError("fingerprint does not match the labels")
    state = record["state"]
    if state not in (PENDING, FIRING):
        raise ValueError(f"state {state!r}")
    alert = Alert((_text(record["rule"]), _text(record["severity"]), series), labels, 0.0)
    alert.state = state
    alert.active_at = _time(record["activeAt"])
    alert.starts_at = None if record["startsAt"] is None else _time(record["startsAt"])
    if state == FIRING and alert.starts_at is None:
        raise ValueError("a firing alert without startsAt")
    alert.notified = record["notified"] is True
    if alert.notified:
        if record["lastNotifiedStatus"] != FIRING:
            raise ValueError(f"lastNotifiedStatus {record['lastNotifiedStatus']!r}")
        alert.last_notified = _time(record["lastNotifiedAt"])
    sequence = record["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise ValueError(f"sequence {sequence!r}")
    alert.sequence = sequence
    alert.value = float(record["value"])
    alert.threshold = float(record["threshold"])
    alert.annotations = {_text(name): _text(text) for name, text in record["annotations"].items()}
    return alert


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a time: {value!r}")
    return float(value)
