"""Notification grouping on a fake clock: the group key, group_wait, group_interval, the group's
repeat, resolves, the cap on groups and the state a restart takes back."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from aiops_agent.base.events import AlertEvent
from aiops_agent.notify import create_dispatcher
from aiops_agent.notify.grouping import Grouper, Grouping, Notification, group_key
from aiops_agent.notify.queue import decode_group, encode_group
from tests.helpers.notify import config_for, metric

HOST_ONLY = Grouping(0, ("host",), wait=30.0, interval=60.0, repeat=3600.0)
DEFAULT = Grouping(0, ("host", "alertname"), wait=0.0, interval=0.0, repeat=3600.0)


def alert(name: str, status: str = "firing", host: str = "web-1", **labels: str) -> AlertEvent:
    identity = {"alertname": name, "host": host, **labels}
    return AlertEvent(
        fingerprint=f"{name}-{host}-{sorted(labels.items())}",
        status=status,
        labels={**identity, "severity": "warning"},
        annotations={"summary": f"{name} on {host}"},
        starts_at=1000.0,
        ends_at=2000.0 if status == "resolved" else None,
        value=1.0,
        generator=name.lower(),
        sequence=1 if status == "firing" else 2,
    )


def names(notification: Notification) -> list[tuple[str, str]]:
    return [(a.labels["alertname"], a.status) for a in notification.alerts]


def test_alerts_firing_within_the_wait_make_one_notification() -> None:
    grouper = Grouper(100)
    grouper.add(alert("HighCPU"), HOST_ONLY, now=0.0)
    assert grouper.flush(10.0) == []  # waiting for more
    grouper.add(alert("HighLoad"), HOST_ONLY, now=10.0)
    grouper.add(alert("CpuAnomaly"), HOST_ONLY, now=20.0)
    assert grouper.next_due() == 30.0
    assert grouper.flush(29.0) == []
    (sent,) = grouper.flush(30.0)
    assert names(sent) == [("CpuAnomaly", "firing"), ("HighCPU", "firing"), ("HighLoad", "firing")]
    assert sent.labels == {"host": "web-1"} and sent.sequence == 1
    assert sent.idempotency_key() == f"{sent.group}-1"
    assert grouper.flush(31.0) == []  # told: nothing more until something changes


def test_group_wait_zero_notifies_at_once() -> None:
    grouper = Grouper(100)
    grouper.add(alert("HighCPU"), DEFAULT, now=5.0)
    grouper.add(alert("HighCPU", mountpoint="/x"), DEFAULT, now=5.0)
    (sent,) = grouper.flush(5.0)
    assert len(sent.alerts) == 2


def test_group_by_picks_the_groups() -> None:
    grouper = Grouper(100)
    for name in ("HighCPU", "HighLoad"):
        grouper.add(alert(name), DEFAULT, now=0.0)
        grouper.add(alert(name, host="web-2"), DEFAULT, now=0.0)
    sent = grouper.flush(0.0)
    assert sorted(tuple(sorted(n.labels.items())) for n in sent) == [
        (("alertname", "HighCPU"), ("host", "web-1")),
        (("alertname", "HighCPU"), ("host", "web-2")),
        (("alertname", "HighLoad"), ("host", "web-1")),
        (("alertname", "HighLoad"), ("host", "web-2")),
    ]
    everything = Grouper(100)
    each = dataclasses.replace(DEFAULT, group_by=("...",))
    everything.add(alert("HighCPU"), each, now=0.0)
    everything.add(alert("HighCPU", mountpoint="/x"), each, now=0.0)
    assert [len(n.alerts) for n in everything.flush(0.0)] == [1, 1]
    # A route is part of the key: the same labels on two routes are two groups.
    assert group_key(0, {"host": "a"}) != group_key(1, {"host": "a"})
    assert group_key(0, {"host": "a"}) == group_key(0, {"host": "a"})


def test_an_added_alert_waits_for_the_group_interval() -> None:
    grouper = Grouper(100)
    grouper.add(alert("HighCPU"), HOST_ONLY, now=0.0)
    (first,) = grouper.flush(30.0)
    grouper.add(alert("DiskFull"), HOST_ONLY, now=40.0)
    assert grouper.flush(89.0) == []  # 30 + group_interval 60
    (second,) = grouper.flush(90.0)
    assert second.group == first.group and second.sequence == 2
    assert names(second) == [("DiskFull", "firing"), ("HighCPU", "firing")]
    assert second.idempotency_key() != first.idempotency_key()


def test_a_repeat_of_a_member_is_no_change_the_group_repeats_itself() -> None:
    grouper = Grouper(100)
    grouper.add(alert("HighCPU"), HOST_ONLY, now=0.0)
    grouper.flush(30.0)
    # The lifecycle's own repeat of a member (same status, a new sequence) refreshes it only.
    repeat = dataclasses.replace(alert("HighCPU"), sequence=2, value=9.0)
    grouper.add(repeat, HOST_ONLY, now=100.0)
    assert grouper.flush(100.0) == []
    assert grouper.next_due() == 3630.0
    (again,) = grouper.flush(3630.0)
    assert again.sequence == 2 and again.alerts[0].value == 9.0


def test_a_resolve_is_told_in_the_next_notification_then_the_group_ends() -> None:
    grouper = Grouper(100)
    grouper.add(alert("HighCPU"), HOST_ONLY, now=0.0)
    grouper.add(alert("HighLoad"), HOST_ONLY, now=0.0)
    (first,) = grouper.flush(30.0)
    grouper.add(alert("HighCPU", "resolved"), HOST_ONLY, now=40.0)
    (second,) = grouper.flush(90.0)
    assert names(second) == [("HighLoad", "firing"), ("HighCPU", "resolved")]
    assert second.status == "firing"
    grouper.add(alert("HighLoad", "resolved"), HOST_ONLY, now=100.0)
    (last,) = grouper.flush(150.0)
    assert names(last) == [("HighLoad", "resolved")] and last.status == "resolved"
    assert len(grouper) == 0 and grouper.next_due() is None
    # The same labels firing later start a new group: a new id, so a new incident.
    grouper.add(alert("HighCPU"), HOST_ONLY, now=200.0)
    (fresh,) = grouper.flush(230.0)
    assert fresh.group != first.group and fresh.sequence == 1


def test_an_alert_that_ends_before_its_group_told_anyone_is_not_notified() -> None:
    grouper = Grouper(100)
    grouper.add(alert("HighCPU"), HOST_ONLY, now=0.0)
    grouper.add(alert("HighCPU", "resolved"), HOST_ONLY, now=15.0)
    assert grouper.flush(30.0) == [] and len(grouper) == 0


def test_a_resolve_the_groups_do_not_know_is_still_told() -> None:
    # Notified before the groups existed (an upgrade, a lost outbox): its end still goes out.
    grouper = Grouper(100)
    grouper.add(alert("HighCPU", "resolved"), DEFAULT, now=0.0)
    (sent,) = grouper.flush(0.0)
    assert names(sent) == [("HighCPU", "resolved")]


def test_groups_beyond_the_cap_share_an_overflow_group() -> None:
    grouper = Grouper(2)
    for host in ("a", "b", "c", "d"):
        grouper.add(alert("HighCPU", host=host), DEFAULT, now=0.0)
    assert len(grouper) == 3 and grouper.overflowed == 2
    sent = grouper.flush(0.0)
    assert sorted(len(n.alerts) for n in sent) == [1, 1, 2]
    overflow = next(n for n in sent if len(n.alerts) == 2)
    assert overflow.labels == {}


def test_the_state_survives_a_restart() -> None:
    grouper = Grouper(100)
    grouper.add(alert("HighCPU"), HOST_ONLY, now=0.0)
    (first,) = grouper.flush(30.0)
    grouper.add(alert("HighLoad"), HOST_ONLY, now=40.0)
    saved = {k: encode_group(g) for k, g in grouper.changes().items() if g is not None}
    assert grouper.changes() == {}  # reported once
    restarted = Grouper(100)
    restarted.restore((k, decode_group(text)) for k, text in saved.items())
    assert restarted.next_due() == 90.0
    (second,) = restarted.flush(90.0)
    assert second.group == first.group and second.sequence == 2
    assert names(second) == [("HighCPU", "firing"), ("HighLoad", "firing")]


def test_the_dispatcher_counts_groups_and_logs_the_overflow(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receivers = {"hook": {"webhook": {"url": "http://127.0.0.1:9/never", "timeout": "100ms"}}}
    config = config_for(tmp_path, receivers, [{"receiver": "hook"}])
    config = dataclasses.replace(
        config, grouping=dataclasses.replace(config.grouping, max_groups=2)
    )
    dispatcher = create_dispatcher(config, str(tmp_path / "state"), lambda: "http://h:9877")
    try:
        with caplog.at_level(logging.ERROR, logger="aiops_agent.notify"):
            dispatcher.submit([alert(name) for name in ("A", "B", "C", "D")])
        groups = metric(dispatcher, "aiops_agent_notification_groups", receiver="hook")
        overflowed = metric(
            dispatcher, "aiops_agent_notification_groups_overflowed_total", receiver="hook"
        )
    finally:
        dispatcher.close(1)
    assert groups == 3 and overflowed == 2  # two groups and the overflow group
    assert any("grouping.max_groups" in r.getMessage() for r in caplog.records)
