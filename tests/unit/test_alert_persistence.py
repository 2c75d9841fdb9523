"""Alert state across restarts (alerting/alertstore.py and Lifecycle.restore): the file's round
trip, what happens to a corrupt, foreign or oversized one, atomic writes, writes only on change,
and what a restored alert does at the first evaluation: still holding (no new notification before
the repeat interval, `for` clock continued), cleared (resolved with its original startsAt and the
resolve-time value), its rule or level removed, its host renamed, its series slow to return."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from aiops_agent.alerting import alertstore
from aiops_agent.alerting.alertstore import AlertStore, to_record
from aiops_agent.alerting.lifecycle import FIRING, PENDING, Lifecycle
from aiops_agent.alerting.plugin import AlertingPlugin
from aiops_agent.alerting.silences import SilenceStore
from aiops_agent.base.model import Labels, Snapshot
from aiops_agent.config.alerting_schema import RuleSettings
from aiops_agent.config.types import Duration
from aiops_agent.detection.rules import Rule
from tests.helpers.alerting import FakeSink, config_from, context, host_families

SERIES: Labels = (("mountpoint", "/"),)
DISK = Rule(
    RuleSettings(
        name="Disk", metric="m", warning=0.8, critical=0.9, hysteresis=0.05, for_=Duration(0)
    )
)
SLOW = Rule(RuleSettings(name="Slow", metric="m", warning=0.8, for_=Duration(60)))
REPEAT = 100.0


def lifecycle(max_alerts: int = 100, host: str = "h1", repeat: float = REPEAT) -> Lifecycle:
    return Lifecycle(host, f"{host}:9877", repeat, 30.0, max_alerts)


def step(
    lc: Lifecycle, now: float, value: float | None, rules: tuple[Rule, ...] = (DISK,)
) -> list[str]:
    for rule in rules:
        lc.evaluate(rule, {} if value is None else {SERIES: value}, now)
    levels = {(r.name, level.severity) for r in rules for level in r.levels}
    events = lc.finish(now, [r.name for r in rules], None, levels)
    return [f"{e.labels['severity']}:{e.status}:{e.sequence}" for e in events]


def restart(lc: Lifecycle, tmp_path: Path, now: float, **kwargs: Any) -> Lifecycle:
    """Save as the old run does, then load into a new lifecycle as the next run does."""
    AlertStore(str(tmp_path)).save(lc.alerts())
    new = lifecycle(**kwargs)
    new.restore(AlertStore(str(tmp_path)).load(), now)
    return new


# --- the file ----------------------------------------------------------------------------------
def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    lc = lifecycle()
    assert step(lc, 0, 0.85, (DISK, SLOW)) == ["warning:firing:1"]
    assert step(lc, 10, 0.95, (DISK, SLOW)) == ["critical:firing:1"]  # Slow is pending
    before = {a.key: to_record(a) for a in lc.alerts()}
    assert {r["state"] for r in before.values()} == {FIRING, PENDING}
    restored = restart(lc, tmp_path, 20)
    after = {a.key: to_record(a) for a in restored.alerts()}
    assert after == before
    document = json.loads((tmp_path / "alerts.json").read_text())
    assert document["version"] == 1 and len(document["alerts"]) == 3
    assert (tmp_path / "alerts.json").stat().st_mode & 0o077 == 0  # not world-readable


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe", b"[]", b'{"version": 1, "alerts": {}}', b'{"alerts": []}'],
)
def test_corrupt_file_is_set_aside_and_logged(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "alerts.json").write_bytes(content)
    with caplog.at_level(logging.ERROR):
        assert AlertStore(str(tmp_path)).load() == []
    (aside,) = tmp_path.glob("alerts.json.corrupt-*")
    assert aside.read_bytes() == content
    assert not (tmp_path / "alerts.json").exists()
    assert "cannot use saved alerts" in caplog.text


def test_unknown_version_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lc = lifecycle()
    step(lc, 0, 0.85)
    AlertStore(str(tmp_path)).save(lc.alerts())
    document = json.loads((tmp_path / "alerts.json").read_text())
    document["version"] = 2  # e.g. written by a newer agent before a downgrade
    (tmp_path / "alerts.json").write_text(json.dumps(document))
    with caplog.at_level(logging.ERROR):
        assert AlertStore(str(tmp_path)).load() == []
    (record,) = caplog.records
    assert record.error == "ValueError: version 2, expected 1"  # type: ignore[attr-defined]
    assert len(list(tmp_path.glob("alerts.json.corrupt-*"))) == 1


def test_oversized_file_is_set_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aiops_agent.base.statefile.MAX_SIZE", 10)
    (tmp_path / "alerts.json").write_text('{"version": 1, "alerts": []}')
    assert AlertStore(str(tmp_path)).load() == []
    assert len(list(tmp_path.glob("alerts.json.corrupt-*"))) == 1


def test_a_bad_record_is_skipped_and_the_rest_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lc = lifecycle()
    step(lc, 0, 0.95)  # warning and critical fire
    AlertStore(str(tmp_path)).save(lc.alerts())
    document = json.loads((tmp_path / "alerts.json").read_text())
    document["alerts"][0]["labels"]["host"] = "forged"  # no longer matches its fingerprint
    (tmp_path / "alerts.json").write_text(json.dumps(document))
    with caplog.at_level(logging.ERROR):
        (alert,) = AlertStore(str(tmp_path)).load()
    assert alert.severity == document["alerts"][1]["severity"]
    (record,) = caplog.records
    assert "fingerprint does not match" in record.first_error  # type: ignore[attr-defined]


def test_restore_is_bounded_by_max_alerts_and_keeps_notified_firing_alerts(tmp_path: Path) -> None:
    lc = lifecycle()
    for index in range(3):
        lc.evaluate(SLOW, {(("disk", str(index)),): 0.9}, index)  # pending, never notified
    lc.evaluate(DISK, {SERIES: 0.85}, 5)
    lc.finish(5, ["Disk", "Slow"])  # the warning fires and is notified
    AlertStore(str(tmp_path)).save(lc.alerts())
    small = lifecycle(max_alerts=2)
    assert small.restore(AlertStore(str(tmp_path)).load(), 10) == 2
    kept = {(a.rule_name, a.state, a.notified) for a in small.alerts()}
    assert ("Disk", FIRING, True) in kept and len(kept) == 2


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lc = lifecycle()
    step(lc, 0, 0.85)
    store = AlertStore(str(tmp_path))
    store.save(lc.alerts())
    old = (tmp_path / "alerts.json").read_bytes()
    step(lc, 1, 0.95)  # critical fires too: the next save has more to write

    def crash(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        store.save(lc.alerts())
    assert (tmp_path / "alerts.json").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.json"]  # no .tmp left


# --- restored alerts at the first evaluation ---------------------------------------------------
def test_restored_alert_that_still_holds_is_not_renotified_before_the_repeat(
    tmp_path: Path,
) -> None:
    lc = lifecycle()
    assert step(lc, 0, 0.85) == ["warning:firing:1"]
    restored = restart(lc, tmp_path, 40)
    assert step(restored, 40, 0.85) == []
    assert step(restored, 99, 0.85) == []
    assert step(restored, 100, 0.85) == ["warning:firing:2"]  # repeat interval since t=0
    (alert,) = restored.alerts()
    assert alert.starts_at == 0 and alert.active_at == 0


def test_restored_pending_alert_continues_its_for_clock(tmp_path: Path) -> None:
    lc = lifecycle()
    assert step(lc, 0, 0.9, (SLOW,)) == []
    restored = restart(lc, tmp_path, 30)
    assert step(restored, 30, 0.9, (SLOW,)) == []
    assert step(restored, 60, 0.9, (SLOW,)) == ["warning:firing:1"]  # 60 s after t=0, not t=30


def test_restored_alert_that_cleared_is_resolved_with_its_start(tmp_path: Path) -> None:
    lc = lifecycle()
    events = lc.finish(0, [])
    lc.evaluate(DISK, {SERIES: 0.85}, 0)
    (fired,) = lc.finish(0, ["Disk"])
    restored = restart(lc, tmp_path, 500)
    restored.evaluate(DISK, {SERIES: 0.5}, 500)
    (resolved,) = restored.finish(500, ["Disk"])
    assert events == []
    assert resolved.status == "resolved" and resolved.fingerprint == fired.fingerprint
    assert resolved.starts_at == fired.starts_at == 0 and resolved.ends_at == 500
    assert resolved.value == 0.5 and resolved.sequence == 2
    assert resolved.idempotency_key() != fired.idempotency_key()
    assert resolved.annotations["summary"] == "Resolved: Disk on h1: 0.5"
    assert resolved.annotations["description"] == (
        "m is 0.5, back below the warning threshold 0.8 (cleared at 0.75)."
    )
    assert restored.alerts() == []


def test_restored_alert_whose_rule_was_removed_is_resolved(tmp_path: Path) -> None:
    lc = lifecycle()
    step(lc, 0, 0.95)  # critical fires, warning fires inhibited
    restored = restart(lc, tmp_path, 50)
    events = restored.finish(50, ["Other"], None, {("Other", "warning")})
    assert [e.labels["severity"] for e in events] == ["critical"]  # the warning was never told
    assert "was removed from the configuration" in events[0].annotations["description"]
    assert events[0].annotations["summary"].startswith("Resolved: ")


def test_restored_alert_whose_level_was_removed_is_resolved(tmp_path: Path) -> None:
    lc = lifecycle()
    step(lc, 0, 0.95)
    critical_only = Rule(RuleSettings(name="Disk", metric="m", critical=0.9, for_=Duration(0)))
    restored = restart(lc, tmp_path, 50)
    assert step(restored, 50, 0.95, (critical_only,)) == []  # warning was inhibited: no resolve
    assert [a.severity for a in restored.alerts()] == ["critical"]


def test_restored_alert_under_a_new_host_name_is_resolved(tmp_path: Path) -> None:
    lc = lifecycle(host="old-name")
    step(lc, 0, 0.85)
    restored = restart(lc, tmp_path, 50, host="new-name")
    events = restored.finish(50, ["Disk"])
    assert [(e.status, e.labels["host"]) for e in events] == [("resolved", "old-name")]
    assert step(restored, 51, 0.85) == ["warning:firing:1"]  # the new alert, new labels


def test_restored_alert_waits_resolve_timeout_from_the_restart(tmp_path: Path) -> None:
    """A day of downtime: the alert is not resolved as stale before fresh data had a chance."""
    lc = lifecycle(repeat=1e6)
    step(lc, 0, 0.85)
    restored = restart(lc, tmp_path, 86400, repeat=1e6)
    assert step(restored, 86400, None) == []  # e.g. a rate needs a second sample
    assert step(restored, 86400 + 29, None) == []
    assert step(restored, 86400 + 31, None) == ["warning:resolved:2"]


# --- through the plugin: when the file is written ---------------------------------------------
RULE = {"name": "Busy", "metric": "aiops_agent_cpu_utilization_ratio", "warning": 0.5}


def plugin(tmp_path: Path) -> tuple[AlertingPlugin, FakeSink]:
    (tmp_path / "state").mkdir(exist_ok=True)
    sink = FakeSink()
    config = config_from(tmp_path, {"agent": {"hostname": "h1"}, "detection": {"rules": [RULE]}})
    return AlertingPlugin(config, context(tmp_path / "state"), lambda c, s: sink), sink


def test_plugin_writes_on_change_and_at_shutdown_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    real_save = AlertStore.save
    monkeypatch.setattr(
        AlertStore, "save", lambda self, alerts: (writes.append(1), real_save(self, alerts))[1]
    )
    first, sink = plugin(tmp_path)
    first.on_snapshot(Snapshot(1000.0, host_families(cpu=0.9)))  # fires: a write
    for second in range(1, 6):  # steady: none
        first.on_snapshot(Snapshot(1000.0 + second, host_families(cpu=0.8 + second / 100)))
    assert len(writes) == 1
    first.close(1.0)
    assert len(writes) == 2
    saved = json.loads((tmp_path / "state" / alertstore.FILE_NAME).read_text())["alerts"]
    assert saved[0]["value"] == pytest.approx(0.85)  # the latest value, saved at shutdown

    again, sink2 = plugin(tmp_path)
    again.close(1.0)  # stopped before its first snapshot: the file is kept as it was
    assert len(writes) == 2
    again, sink2 = plugin(tmp_path)
    again.on_snapshot(Snapshot(1010.0, host_families(cpu=0.1)))
    assert [e.status for e in sink.events + sink2.events] == ["firing", "resolved"]
    assert json.loads((tmp_path / "state" / alertstore.FILE_NAME).read_text())["alerts"] == []


def test_plugin_survives_a_state_dir_it_cannot_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FakeSink()
    config = config_from(tmp_path, {"agent": {"hostname": "h1"}, "detection": {"rules": [RULE]}})
    missing = tmp_path / "no-such-dir"
    alerting = AlertingPlugin(config, context(missing), lambda c, s: sink)
    with caplog.at_level(logging.ERROR):
        alerting.on_snapshot(Snapshot(1000.0, host_families(cpu=0.9)))
    assert [e.status for e in sink.events] == ["firing"]
    assert "cannot save the alert state" in caplog.text


def test_silences_file_that_is_corrupt_is_set_aside_too(tmp_path: Path) -> None:
    (tmp_path / "silences.json").write_text("{not json")
    assert SilenceStore(str(tmp_path), 10).all(0.0) == []
    (aside,) = tmp_path.glob("silences.json.corrupt-*")
    assert aside.read_text() == "{not json"
