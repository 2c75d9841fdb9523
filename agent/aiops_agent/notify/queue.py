"""A receiver's queue: its SQLite outbox while that can write, memory while it cannot (full disk,
read-only or missing state directory). Alerts are then still delivered directly, only not durably;
every failed write is counted and logged, and the agent keeps running."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.processes import ProcessSummary
from aiops_agent.config.notify_schema import OutboxSection
from aiops_agent.notify.grouping import Group, Notification, single
from aiops_agent.notify.outbox import Outbox, OutboxError, Row, is_corrupt
from aiops_agent.notify.stats import ReceiverStats

REOPEN_SECONDS = 30.0  # how often an outbox that failed to open is tried again
_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(AlertEvent))
_NEWER = frozenset(("context", "processes"))  # fields an older outbox row may lack
GroupChanges = Mapping[str, Optional[Group]]  # group key -> its new state; None: deleted


class Item(NamedTuple):
    ref: int  # outbox row id when > 0; a memory item when < 0
    key: str  # idempotency key
    notification: Notification
    created: float  # unix seconds when enqueued


def encode(event: AlertEvent) -> str:
    fields = dataclasses.asdict(event)
    fields["processes"] = [process.as_json() for process in event.processes]
    if not math.isfinite(event.value):
        fields["value"] = str(event.value)  # JSON has no NaN; float("nan") reads it back
    return json.dumps(fields, sort_keys=True)


def decode(text: str) -> AlertEvent:
    """Raises ValueError, KeyError or TypeError on a row that is not an event."""
    fields: dict[str, Any] = json.loads(text)
    # Rows written before the process context existed have neither field: their defaults.
    values = {name: fields[name] for name in _EVENT_FIELDS if name in fields or name not in _NEWER}
    values["value"] = float(values["value"])
    values["processes"] = tuple(ProcessSummary.from_json(p) for p in fields.get("processes", ()))
    return AlertEvent(**values)


# Notifications and groups hold their alerts as encode() writes them, so that an alert is written
# and read in one place whatever holds it (nested as objects, readable in a dead letter).
def encode_notification(notification: Notification) -> str:
    document = {
        "alerts": [json.loads(encode(event)) for event in notification.alerts],
        "group": notification.group,
        "labels": notification.labels,
        "sequence": notification.sequence,
    }
    return json.dumps(document, sort_keys=True)


def decode_notification(text: str) -> Notification:
    """Raises ValueError, KeyError or TypeError on a row that is not a notification. A row of
    an agent from before grouping holds one alert: it is read as an ungrouped notification."""
    fields: dict[str, Any] = json.loads(text)
    if "alerts" not in fields:
        return single(decode(text))
    alerts = tuple(decode(json.dumps(alert)) for alert in fields["alerts"])
    if not alerts:
        raise ValueError("a notification without alerts")
    labels = {str(k): str(v) for k, v in fields["labels"].items()}
    return Notification(alerts, str(fields["group"]), labels, int(fields["sequence"]))


def encode_group(group: Group) -> str:
    document = {
        "id": group.id,
        "route": group.route,
        "labels": group.labels,
        "created": group.created,
        "wait": group.wait,
        "interval": group.interval,
        "repeat": group.repeat,
        "members": [json.loads(encode(event)) for event in group.members.values()],
        "notified": group.notified,
        "lastSent": group.last_sent,
        "sequence": group.sequence,
    }
    return json.dumps(document, sort_keys=True)


def decode_group(text: str) -> Group:
    """Raises ValueError, KeyError, TypeError or AttributeError on what is not a group."""
    record: dict[str, Any] = json.loads(text)
    labels = {str(k): str(v) for k, v in record["labels"].items()}
    group = Group(str(record["id"]), int(record["route"]), labels, float(record["created"]))
    group.wait = float(record["wait"])
    group.interval = float(record["interval"])
    group.repeat = float(record["repeat"])
    members = [decode(json.dumps(member)) for member in record["members"]]
    group.members = {event.fingerprint: event for event in members}
    group.notified = {str(fp): str(status) for fp, status in record["notified"].items()}
    last_sent = record["lastSent"]
    group.last_sent = None if last_sent is None else float(last_sent)
    group.sequence = int(record["sequence"])
    return group


class DurableQueue:
    def __init__(
        self,
        name: str,
        path: Optional[str],
        settings: OutboxSection,
        stats: ReceiverStats,
        errors: RateLimitedLog,
    ) -> None:
        self.name = name
        self.settings = settings
        self._path = path
        self._stats = stats
        self._errors = errors
        self._lock = threading.Lock()
        self._outbox: Optional[Outbox] = None
        self._reopen_at = 0.0
        self._memory: deque[Item] = deque()
        self._next_memory_ref = -1
        self._undeletable: set[int] = set()  # delivered rows whose DELETE failed (full disk)
        with self._lock:
            self._open()

    # --- writing ---------------------------------------------------------------------------
    def add(
        self, notifications: list[Notification], now: float, groups: Optional[GroupChanges] = None
    ) -> None:
        """Enqueue, and save the changed groups (see grouping.py) in the same transaction."""
        items = [(n.idempotency_key(), n, now) for n in notifications]
        with self._lock:
            outbox = self._open()
            if outbox is not None:
                try:
                    rows = [(key, encode_notification(n), created) for key, n, created in items]
                    saved = {
                        k: None if g is None else encode_group(g) for k, g in (groups or {}).items()
                    }
                    dropped = outbox.add(rows, self.settings.max_items, saved)
                except OutboxError as error:
                    self._failed("write", error, len(items))
                else:
                    self._stats.durable = 1.0
                    if dropped:
                        self._stats.add_to("dropped", "max_items", dropped)
                    return
            elif self._path is not None:
                self._failed("write", OSError("outbox unavailable; see the open error"), len(items))
            for key, notification, created in items:
                self._memory.append(Item(self._next_memory_ref, key, notification, created))
                self._next_memory_ref -= 1
            excess = len(self._memory) - self.settings.max_items
            for _ in range(max(excess, 0)):
                self._memory.popleft()
            if excess > 0:
                self._stats.add_to("dropped", "max_items", excess)

    # --- delivering ------------------------------------------------------------------------
    def head(self, limit: int) -> list[Item]:
        """The oldest `limit` items, outbox and memory merged by enqueue time."""
        with self._lock:
            items = list(self._memory)[:limit]
            if self._outbox is not None:
                try:
                    rows = self._outbox.head(limit + len(self._undeletable))
                except OutboxError as error:
                    self._failed("read", error, 0)
                    rows = []
                items.extend(self._decode([r for r in rows if r.id not in self._undeletable]))
        items.sort(key=lambda item: item.created)
        return items[:limit]

    def _decode(self, rows: list[Row]) -> list[Item]:
        items, broken = [], []
        for row in rows:
            try:
                items.append(Item(row.id, row.key, decode_notification(row.event), row.created))
            except (ValueError, KeyError, TypeError):
                broken.append(row)
        if broken and self._outbox is not None:
            self._stats.add("dead_letters", len(broken))
            self._errors.error(
                f"outbox-undecodable:{self.name}",
                "outbox rows that are not alert events were set aside",
                receiver=self.name,
                count=len(broken),
            )
            try:
                self._outbox.dead_letter(broken, "undecodable", self.settings.dead_letters_kept)
            except OutboxError:
                self._undeletable.update(r.id for r in broken)
        return items

    def remove(self, items: list[Item]) -> None:
        """Forget delivered items. A row whose DELETE fails is skipped from now on and its DELETE
        retried (retry_removals), so a full disk cannot make us deliver it again and again."""
        with self._lock:
            self._drop_memory(items)
            ids = [i.ref for i in items if i.ref > 0]
            if ids and self._outbox is not None:
                try:
                    self._outbox.remove(ids)
                except OutboxError as error:
                    self._undeletable.update(ids)
                    self._failed("delete", error, 0)

    def dead_letter(self, items: list[Item], reason: str) -> None:
        with self._lock:
            self._drop_memory(items)
            rows = [
                Row(i.ref, i.key, encode_notification(i.notification), i.created)
                for i in items
                if i.ref > 0
            ]
            if rows and self._outbox is not None:
                try:
                    self._outbox.dead_letter(rows, reason, self.settings.dead_letters_kept)
                except OutboxError as error:
                    self._undeletable.update(r.id for r in rows)
                    self._failed("delete", error, 0)

    def retry_removals(self) -> None:
        with self._lock:
            if not self._undeletable or self._outbox is None:
                return
            try:
                self._outbox.remove(sorted(self._undeletable))
            except OutboxError:
                return
            self._undeletable.clear()

    def expire(self, cutoff: float) -> None:
        """Drop what has waited since before `cutoff`, counting it."""
        with self._lock:
            dropped = 0
            while self._memory and self._memory[0].created < cutoff:
                self._memory.popleft()
                dropped += 1
            if self._outbox is not None:
                try:
                    dropped += self._outbox.expire(cutoff)
                except OutboxError as error:
                    self._failed("delete", error, 0)
        if dropped:
            self._stats.add_to("dropped", "max_age", dropped)
            self._errors.error(
                f"outbox-expired:{self.name}",
                "undelivered notifications dropped: older than outbox.max_age",
                receiver=self.name,
                count=dropped,
            )

    def depth(self) -> int:
        with self._lock:
            depth = len(self._memory) - len(self._undeletable)
            if self._outbox is not None:
                with contextlib.suppress(OutboxError):
                    depth += self._outbox.depth()
            return max(depth, 0)

    def dead_letters(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return self._outbox.dead_letters() if self._outbox is not None else []

    # --- alerts kept active (re-sent) across restarts; best effort ------------------------
    def active(self) -> list[tuple[AlertEvent, Optional[float]]]:
        with self._lock:
            if self._outbox is None:
                return []
            try:
                rows = self._outbox.active()
            except OutboxError:
                return []
        found = []
        for _, text, until in rows:
            try:
                found.append((decode(text), until))
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def set_active(self, event: AlertEvent, until: Optional[float]) -> None:
        with self._lock:
            if self._outbox is not None:
                # Failing only costs the re-sends after a restart; until then it is re-sent anyway.
                with contextlib.suppress(OutboxError):
                    self._outbox.set_active(event.fingerprint, encode(event), until)

    def clear_active(self, fingerprints: list[str]) -> None:
        with self._lock:
            if self._outbox is not None and fingerprints:
                with contextlib.suppress(OutboxError):
                    self._outbox.clear_active(fingerprints)

    def groups(self) -> tuple[list[tuple[str, Group]], int]:
        """The saved notification groups, (key, group), and how many rows did not check out;
        best effort, like active()."""
        with self._lock:
            if self._outbox is None:
                return [], 0
            try:
                rows = self._outbox.groups()
            except OutboxError:
                return [], 0
        found, broken = [], 0
        for key, text in rows:
            try:
                found.append((key, decode_group(text)))
            except (ValueError, KeyError, TypeError, AttributeError):
                broken += 1
        return found, broken

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Move what waits in memory to the outbox if it can write again; count what cannot."""
        with self._lock:
            outbox = self._open()
            if self._memory and outbox is not None:
                rows = [
                    (i.key, encode_notification(i.notification), i.created) for i in self._memory
                ]
                try:
                    outbox.add(rows, self.settings.max_items)
                    self._memory.clear()
                except OutboxError as error:
                    self._failed("write", error, 0)
            if self._memory:
                self._stats.add_to("dropped", "closed", len(self._memory))
                self._memory.clear()
            if self._outbox is not None:
                self._outbox.close()
                self._outbox = None

    def _drop_memory(self, items: list[Item]) -> None:
        refs = {i.ref for i in items if i.ref < 0}
        if refs:
            self._memory = deque(i for i in self._memory if i.ref not in refs)

    def _open(self) -> Optional[Outbox]:
        if self._outbox is not None or self._path is None:
            return self._outbox
        now = time.monotonic()
        if now < self._reopen_at:
            return None
        self._reopen_at = now + REOPEN_SECONDS
        try:
            os.makedirs(os.path.dirname(self._path), mode=0o750, exist_ok=True)
            self._outbox = Outbox(self._path, self.settings.synchronous)
        except (OSError, OutboxError) as error:
            if isinstance(error, OutboxError) and is_corrupt(error):
                self._set_aside()
            self._failed("open", error, 0)
        return self._outbox

    def _set_aside(self) -> None:
        """A corrupt file would fail forever: keep it for a post-mortem and start afresh."""
        assert self._path is not None
        aside = f"{self._path}.corrupt-{int(time.time())}"
        try:
            os.replace(self._path, aside)
        except OSError:
            return
        self._reopen_at = 0.0
        self._errors.error(
            f"outbox-corrupt:{self.name}",
            "outbox file is not a database; moved aside and recreated",
            receiver=self.name,
            moved_to=aside,
        )

    def _failed(self, operation: str, error: BaseException, lost_writes: int) -> None:
        if lost_writes:
            self._stats.add("write_errors", lost_writes)
            self._stats.durable = 0.0
        reason = getattr(error, "strerror", None) or str(error)
        self._errors.error(
            f"outbox-{operation}:{self.name}",
            f"outbox {operation} failed; notifications are kept in memory and delivered directly"
            if lost_writes or operation == "open"
            else f"outbox {operation} failed",
            receiver=self.name,
            error=f"{type(error).__name__}: {reason}",
        )
