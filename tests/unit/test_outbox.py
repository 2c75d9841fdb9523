"""The SQLite outbox and its in-memory fallback: order, bounds, persistence, corruption, and
what happens when the state directory cannot be written."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.config.notify_schema import OutboxSection
from aiops_agent.notify.grouping import Group, Notification, single
from aiops_agent.notify.queue import (
    DurableQueue,
    Item,
    decode_notification,
    encode,
    encode_group,
    encode_notification,
)
from aiops_agent.notify.stats import ReceiverStats

SETTINGS = OutboxSection(max_items=10)


def alert(n: int, status: str = "firing") -> AlertEvent:
    return AlertEvent(
        f"fp{n}", status, {"alertname": "A", "n": str(n)}, {}, 1700000000.0 + n, None, 1.0, "r", 1
    )


def event(n: int, status: str = "firing") -> Notification:
    return single(alert(n, status))


def fingerprints(items: list[Item]) -> list[str]:
    return [e.fingerprint for item in items for e in item.notification.alerts]


def queue(
    path: Path | None, settings: OutboxSection = SETTINGS
) -> tuple[DurableQueue, ReceiverStats]:
    stats = ReceiverStats()
    errors = RateLimitedLog(logging.getLogger("test"), period=0.0)
    return DurableQueue("r", None if path is None else str(path), settings, stats, errors), stats


def test_encode_roundtrip_including_nan() -> None:
    original = event(1)
    assert decode_notification(encode_notification(original)) == original
    grouped = Notification((alert(1), alert(2, "resolved")), "g-1", {"alertname": "A"}, 4)
    assert decode_notification(encode_notification(grouped)) == grouped
    weird = single(AlertEvent("f", "firing", {}, {}, 1.0, None, float("nan"), "r", 1))
    assert str(decode_notification(encode_notification(weird)).alerts[0].value) == "nan"


def test_a_row_of_an_agent_before_grouping_reads_as_one_alert() -> None:
    legacy = encode(alert(1))  # what rows held before grouping
    assert decode_notification(legacy) == event(1)
    assert decode_notification(legacy).idempotency_key() == alert(1).idempotency_key()


def group(key: str, *members: AlertEvent, sequence: int = 0) -> Group:
    saved = Group(f"{key}-1", 0, {"alertname": "A"}, 100.0)
    saved.members = {m.fingerprint: m for m in members}
    saved.notified = {m.fingerprint: "firing" for m in members if sequence}
    saved.last_sent = 101.0 if sequence else None
    saved.sequence = sequence
    return saved


def test_groups_are_saved_with_the_notifications(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    q, _ = queue(path)
    q.add([], 100.0, {"k1": group("k1", alert(1)), "k2": group("k2", alert(2))})
    q.add([event(1)], 101.0, {"k1": None, "k2": group("k2", alert(2), alert(3), sequence=1)})
    q.close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO groups (key, state) VALUES ('k3', '{not a group')")
    db.commit()
    db.close()
    again, _ = queue(path)
    (saved,), broken = again.groups()
    key, restored = saved
    assert key == "k2" and broken == 1
    assert encode_group(restored) == encode_group(group("k2", alert(2), alert(3), sequence=1))
    assert fingerprints(again.head(5)) == ["fp1"]


def test_fifo_remove_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "outbox" / "r.sqlite"
    q, stats = queue(path)
    q.add([event(1), event(2)], 100.0)
    q.add([event(3)], 101.0)
    head = q.head(2)
    assert fingerprints(head) == ["fp1", "fp2"]
    assert head[0].key == event(1).idempotency_key() and head[0].ref > 0
    q.remove(head[:1])
    q.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again, _ = queue(path)
    assert fingerprints(again.head(10)) == ["fp2", "fp3"]
    assert again.depth() == 2
    assert stats.write_errors == 0 and stats.durable == 1.0


def test_max_items_drops_oldest_and_counts(tmp_path: Path) -> None:
    q, stats = queue(tmp_path / "r.sqlite")
    q.add([event(n) for n in range(15)], 100.0)
    assert q.depth() == 10
    assert fingerprints(q.head(1)) == ["fp5"]
    assert stats.dropped == {"max_items": 5}


def test_max_age_expires_and_counts(tmp_path: Path) -> None:
    q, stats = queue(tmp_path / "r.sqlite")
    q.add([event(1)], time.time() - 7200)
    q.add([event(2)], time.time())
    q.expire(time.time() - 3600)
    assert fingerprints(q.head(10)) == ["fp2"]
    assert stats.dropped == {"max_age": 1}


def test_dead_letters_are_kept_bounded(tmp_path: Path) -> None:
    q, _ = queue(tmp_path / "r.sqlite", OutboxSection(max_items=10, dead_letters_kept=2))
    q.add([event(n) for n in range(3)], 100.0)
    for item in q.head(3):
        q.dead_letter([item], "HTTP 400")
    assert q.depth() == 0
    kept = q.dead_letters()
    assert [k for k, _, _ in kept] == [event(1).idempotency_key(), event(2).idempotency_key()]
    assert kept[0][2] == "HTTP 400"


def test_unwritable_directory_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the outbox directory should be: open fails
    q, stats = queue(blocker / "outbox" / "r.sqlite")
    q.add([event(1), event(2)], 100.0)
    assert stats.write_errors == 2 and stats.durable == 0.0
    head = q.head(10)
    assert [i.ref < 0 for i in head] == [True, True]
    q.remove(head)
    assert q.depth() == 0
    q.add([event(3)], 101.0)
    q.close()
    assert stats.dropped == {"closed": 1}


def test_corrupt_file_is_set_aside_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    q, _ = queue(path)
    q.add([event(1)], 100.0)
    assert fingerprints(q.head(5)) == ["fp1"]
    assert any(p.name.startswith("r.sqlite.corrupt-") for p in tmp_path.iterdir())


def test_undecodable_row_is_dead_lettered(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    q, stats = queue(path)
    q.add([event(1)], 100.0)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO pending (key, event, created) VALUES ('k', '{broken', 99.0)")
    db.commit()
    db.close()
    assert fingerprints(q.head(5)) == ["fp1"]
    assert stats.dead_letters == 1


def test_memory_and_outbox_items_merge_in_enqueue_order(tmp_path: Path) -> None:
    q, _ = queue(tmp_path / "r.sqlite")
    q.add([event(1)], 100.0)
    q._outbox, outbox = None, q._outbox  # the disk "goes away" for one write
    q._reopen_at = time.monotonic() + 60
    q.add([event(2)], 101.0)
    q._outbox = outbox
    q.add([event(3)], 102.0)
    assert fingerprints(q.head(5)) == ["fp1", "fp2", "fp3"]
    q.close()  # the memory item is written to the outbox on close
    again, _ = queue(tmp_path / "r.sqlite")
    assert fingerprints(again.head(5)) == ["fp1", "fp2", "fp3"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        q, stats = queue(tmp_path / "r.sqlite")
        q.add([event(1)], 100.0)
        assert stats.write_errors == 1 and q.depth() == 1
    finally:
        tmp_path.chmod(0o700)
