"""The fault benchmark's scoring of the quiet baseline (bench/faults/score.py): besides the false
notifications, how near it came to one, from the alerts the poller saw pending."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "faults"))

import score  # noqa: E402

BASE = {"start": 1000.0, "end": 1720.0}


def onset(name: str, active_at: float, last_seen: float, firing: bool) -> dict[str, Any]:
    labels = {"alertname": name, "series": "node_filefd_allocated", "severity": "warning"}
    return {"labels": labels, "active_at": active_at, "last_seen": last_seen, "firing": firing}


def test_near_misses_are_pending_alerts_of_the_quiet_baseline_that_never_fired() -> None:
    onsets = [
        onset("HostAnomalousSeries", 1100.0, 1106.0, firing=False),
        onset("HostLoadPerCore", 1200.0, 1216.0, firing=False),
        onset("HostCpuSaturation", 1300.0, 1340.0, firing=True),  # a false notification
        onset("HostMemoryPressure", 1800.0, 1830.0, firing=False),  # during a fault
        onset("HostNetworkSaturation", 1710.0, 1790.0, firing=False),  # held past the baseline
    ]
    misses = score.near_misses(onsets, BASE, "agent")
    assert misses == [
        {
            "alert": "HostLoadPerCore (severity=warning, series=node_filefd_allocated)",
            "held_s": 16.0,
        },
        {
            "alert": "HostNetworkSaturation (severity=warning, series=node_filefd_allocated)",
            "held_s": 10.0,
        },
        {
            "alert": "HostAnomalousSeries (severity=warning, series=node_filefd_allocated)",
            "held_s": 6.0,
        },
    ]


def test_runs_saved_before_the_poller_kept_last_seen_have_no_near_misses_to_tell() -> None:
    saved = [{"labels": {"alertname": "HostLoadPerCore"}, "active_at": 1100.0}]
    assert score.near_misses(saved, BASE, "agent") is None
    assert score.near_misses([], BASE, "agent") is None
