"""Alert fingerprints equal Alertmanager's for the same label set, so an alert can be found by
the same id on the agent (/api/v1/alerts) and in Alertmanager."""

from __future__ import annotations

from aiops_agent.base.fingerprint import fingerprint


def test_equals_alertmanager_fingerprint() -> None:
    # Read from Alertmanager 0.25 (Debian 12) after POSTing this label set to /api/v2/alerts.
    labels = {"alertname": "HostCpuSaturation", "severity": "warning", "host": "vm"}
    assert fingerprint(labels) == "9ab099d954044362"


def test_empty_label_set_is_the_fnv_offset_basis() -> None:
    assert fingerprint({}) == "cbf29ce484222325"


def test_order_does_not_matter_and_values_do() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1", "b": "2"}) != fingerprint({"a": "12", "b": ""})
