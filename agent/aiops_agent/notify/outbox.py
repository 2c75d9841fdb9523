"""One receiver's durable outbox: a SQLite file in WAL mode under the state directory. Imported
only when a receiver needs one, so an agent that only logs its alerts never loads sqlite3.

Every write is one short transaction. Pending rows are delivered in enqueue order and
deleted only after the receiver accepted them, so a crash between the two re-delivers: at least
once, never lost.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Mapping
from typing import NamedTuple, Optional

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_created ON pending (created, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    created REAL NOT NULL,
    died REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS active (
    fingerprint TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    until REAL
);
CREATE TABLE IF NOT EXISTS groups (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
"""
# A WAL that grew during an outage is truncated back to this after a checkpoint.
_JOURNAL_SIZE_LIMIT = 4 << 20

OutboxError = sqlite3.Error


class Row(NamedTuple):
    id: int
    key: str
    event: str  # JSON of the notification
    created: float  # unix seconds when enqueued


class Outbox:
    """Not thread-safe: its owner (DurableQueue) serialises calls."""

    def __init__(self, path: str, synchronous: str) -> None:
        if not os.path.exists(path):
            # The file holds alert contents: readable by the agent only.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), so a write never
        # upgrades a read lock half-way and every statement's durability is visible in the code.
        self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit is fsynced, so an enqueued alert survives power loss, not only a
            # crash of the agent; alerts are few, so the fsync per submit is cheap. NORMAL (an
            # option for slow disks) survives a crash of the agent but may lose the last commits
            # on power loss.
            self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            self._db.execute(f"PRAGMA journal_size_limit={_JOURNAL_SIZE_LIMIT}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def add(
        self,
        rows: list[tuple[str, str, float]],
        max_items: int,
        groups: Optional[Mapping[str, Optional[str]]] = None,
    ) -> int:
        """Append (key, notification, created) rows and save the changed notification groups
        (key -> state JSON; None: deleted); drop the oldest rows beyond max_items in the same
        transaction. Returns how many were dropped. One transaction: a group is never saved
        as notified without its notification queued, nor the other way round."""
        with self._transaction():
            self._db.executemany("INSERT INTO pending (key, event, created) VALUES (?, ?, ?)", rows)
            for key, state in (groups or {}).items():
                if state is None:
                    self._db.execute("DELETE FROM groups WHERE key = ?", (key,))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO groups (key, state) VALUES (?, ?)", (key, state)
                    )
            return self._trim(max_items)

    def groups(self) -> list[tuple[str, str]]:
        cursor = self._db.execute("SELECT key, state FROM groups")
        return [(str(k), str(v)) for k, v in cursor]

    def _trim(self, max_items: int) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM pending").fetchone()
        excess = int(count) - max_items
        if excess <= 0:
            return 0
        self._db.execute(
            "DELETE FROM pending WHERE id IN (SELECT id FROM pending ORDER BY created, id LIMIT ?)",
            (excess,),
        )
        return excess

    def head(self, limit: int) -> list[Row]:
        cursor = self._db.execute(
            "SELECT id, key, event, created FROM pending ORDER BY created, id LIMIT ?", (limit,)
        )
        return [Row(*row) for row in cursor]

    def remove(self, ids: list[int]) -> None:
        with self._transaction():
            self._db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])

    def dead_letter(self, rows: list[Row], reason: str, keep: int) -> None:
        """Move rows aside, keeping the newest `keep` dead letters for inspection."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO dead_letters (key, event, created, died, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                [(r.key, r.event, r.created, now, reason) for r in rows],
            )
            self._db.executemany("DELETE FROM pending WHERE id = ?", [(r.id,) for r in rows])
            self._db.execute(
                "DELETE FROM dead_letters WHERE id NOT IN "
                "(SELECT id FROM dead_letters ORDER BY id DESC LIMIT ?)",
                (keep,),
            )

    def expire(self, cutoff: float) -> int:
        """Drop pending rows enqueued before `cutoff`; returns how many."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM pending WHERE created < ?", (cutoff,))
            return max(cursor.rowcount, 0)

    def depth(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM pending").fetchone()
        return int(count)

    def dead_letters(self) -> list[tuple[str, str, str]]:
        """(key, event, reason) of the kept dead letters, oldest first."""
        cursor = self._db.execute("SELECT key, event, reason FROM dead_letters ORDER BY id")
        return [(str(k), str(e), str(r)) for k, e, r in cursor]

    # Alerts a receiver re-sends while they are active (Alertmanager), kept across restarts.
    def active(self) -> list[tuple[str, str, Optional[float]]]:
        cursor = self._db.execute("SELECT fingerprint, event, until FROM active")
        return [(str(f), str(e), u) for f, e, u in cursor]

    def set_active(self, fingerprint: str, event: str, until: Optional[float]) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO active (fingerprint, event, until) VALUES (?, ?, ?)",
                (fingerprint, event, until),
            )

    def clear_active(self, fingerprints: list[str]) -> None:
        with self._transaction():
            self._db.executemany(
                "DELETE FROM active WHERE fingerprint = ?", [(f,) for f in fingerprints]
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # SQLite may have rolled back already (e.g. on SQLITE_FULL): nothing left to undo then.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")


def is_corrupt(error: sqlite3.Error) -> bool:
    """True when the file is not a usable database (as opposed to a full or read-only disk)."""
    text = str(error).lower()
    return "not a database" in text or "malformed" in text
