"""Silences, modelled on Alertmanager's: matchers on alert labels and a time window. Those made
through the API are kept in <state_dir>/silences.json (statefile.py: written atomically, a
corrupt file set aside) so they survive a restart; those from the config file are rebuilt from
it on every load and never written.

The store is shared between the collection loop (which asks what silences an alert) and HTTP
threads (which add and expire silences), so every access takes its lock."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from aiops_agent.base.fingerprint import fnv1a64
from aiops_agent.base.matchers import Matcher, labels_match, make_matcher
from aiops_agent.base.statefile import read_records, write_atomically
from aiops_agent.base.timefmt import format_time, parse_time
from aiops_agent.config.alerting_schema import SilenceSettings

log = logging.getLogger("aiops_agent.alerting")

FILE_NAME = "silences.json"
RETENTION = 24 * 3600.0  # expired silences stay listed this long, as Alertmanager keeps them
MAX_MATCHERS = 64
MAX_TEXT = 4096
PENDING, ACTIVE, EXPIRED = "pending", "active", "expired"


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float  # math.inf: never (config silences only)
    created_by: str
    comment: str
    updated_at: float
    source: str  # "api" or "config"

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return PENDING
        return ACTIVE if now < self.ends_at else EXPIRED

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [
                {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                for m in self.matchers
            ],
            "startsAt": format_time(self.starts_at),
            "endsAt": format_time(self.ends_at) if math.isfinite(self.ends_at) else None,
            "updatedAt": format_time(self.updated_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "source": self.source,
            "status": {"state": self.state(now)},
        }


class SilenceLimitError(Exception):
    """The store holds max_silences unexpired silences already."""


def silence_from_json(data: Any, now: float, new_id: str, *, saved: bool = False) -> Silence:
    """Validate an API request body (Alertmanager's silence object), or a record of the saved
    file (saved=True: its window may lie in the past). Raises ValueError with a message fit for
    the client."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    raw_matchers = data.get("matchers")
    if not isinstance(raw_matchers, list) or not raw_matchers:
        raise ValueError("matchers: expected a non-empty list")
    if len(raw_matchers) > MAX_MATCHERS:
        raise ValueError(f"matchers: at most {MAX_MATCHERS}")
    matchers = []
    for index, item in enumerate(raw_matchers):
        if not isinstance(item, dict):
            raise ValueError(f"matchers[{index}]: expected an object")
        name, value = item.get("name"), item.get("value")
        is_regex, is_equal = item.get("isRegex", False), item.get("isEqual", True)
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"matchers[{index}]: name and value must be strings")
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise ValueError(f"matchers[{index}]: isRegex and isEqual must be booleans")
        try:
            matchers.append(make_matcher(name, value, is_regex, is_equal))
        except ValueError as error:
            raise ValueError(f"matchers[{index}]: {error}") from None
    if all(m.matches("") for m in matchers):
        # Alertmanager's rule: a silence whose matchers all match the empty string silences
        # everything, which is never what someone meant.
        raise ValueError("at least one matcher must not match the empty string")
    starts_at = parse_time(data["startsAt"]) if data.get("startsAt") is not None else now
    if "endsAt" not in data:
        raise ValueError("endsAt: required")
    ends_at = parse_time(data["endsAt"])
    if ends_at < starts_at or (not saved and (ends_at == starts_at or ends_at <= now)):
        raise ValueError("endsAt must be later than startsAt and than now")
    created_by, comment = data.get("createdBy"), data.get("comment", "")
    if not isinstance(created_by, str) or not created_by.strip():
        raise ValueError("createdBy: required (who is silencing)")
    if not isinstance(comment, str) or len(comment) > MAX_TEXT or len(created_by) > MAX_TEXT:
        raise ValueError(f"createdBy and comment: strings of at most {MAX_TEXT} characters")
    silence_id = data.get("id") or new_id
    if not isinstance(silence_id, str) or len(silence_id) > 64:
        raise ValueError("id: expected a string")
    return Silence(silence_id, tuple(matchers), starts_at, ends_at, created_by, comment, now, "api")


def silences_from_config(settings: Iterable[SilenceSettings]) -> list[Silence]:
    silences = []
    for item in settings:
        starts_at, ends_at, matchers = item.start, item.end, tuple(item.matchers)
        # A stable id, so the same config entry keeps its id across reloads and restarts.
        text = "\n".join([*map(str, matchers), str(starts_at), str(ends_at)])
        silence_id = "config-" + fnv1a64([text])
        silences.append(
            Silence(
                silence_id,
                matchers,
                starts_at,
                ends_at,
                item.created_by,
                item.comment,
                0.0,
                "config",
            )
        )
    return silences


class SilenceStore:
    def __init__(self, state_dir: Optional[str], max_silences: int) -> None:
        self.path = os.path.join(state_dir, FILE_NAME) if state_dir else None
        self.max_silences = max_silences
        self._lock = threading.Lock()
        self._api: dict[str, Silence] = {}
        self._config: list[Silence] = []
        self._load()

    def set_config(self, silences: list[Silence]) -> None:
        with self._lock:
            self._config = silences

    def all(self, now: float) -> list[Silence]:
        with self._lock:
            self._purge(now)
            return [*self._config, *self._api.values()]

    def silencing(self, labels: Mapping[str, str], now: float) -> list[str]:
        """Ids of the active silences matching these alert labels."""
        with self._lock:
            candidates = [*self._config, *self._api.values()]
        return [
            s.id for s in candidates if s.state(now) == ACTIVE and labels_match(s.matchers, labels)
        ]

    def add(self, silence: Silence, now: float) -> None:
        """Create, or replace the API silence with the same id. Raises SilenceLimitError."""
        with self._lock:
            self._purge(now)
            unexpired = sum(s.state(now) != EXPIRED for s in self._api.values())
            if silence.id not in self._api and unexpired >= self.max_silences:
                raise SilenceLimitError(f"already {unexpired} silences (alerting.max_silences)")
            self._api[silence.id] = silence
            self._save()

    def expire(self, silence_id: str, now: float) -> Optional[str]:
        """End an API silence now (it stays listed as expired, as in Alertmanager). Returns None,
        or why it cannot."""
        with self._lock:
            silence = self._api.get(silence_id)
            if silence is None:
                configured = any(s.id == silence_id for s in self._config)
                return "defined in the config file" if configured else "not found"
            if silence.state(now) != EXPIRED:
                starts_at = min(silence.starts_at, now)
                self._api[silence_id] = _replace_window(silence, starts_at, now, now)
                self._save()
            return None

    def _purge(self, now: float) -> None:
        old = [key for key, s in self._api.items() if s.ends_at + RETENTION < now]
        for key in old:
            del self._api[key]

    def _load(self) -> None:
        if self.path is None:
            return
        records = read_records(self.path, 1, "silences")
        if records is None:
            return
        for record in records:
            try:
                silence = silence_from_json(record, 0.0, "", saved=True)
                updated = float(record.get("updatedAt", 0.0))
            except (ValueError, TypeError, AttributeError) as error:
                log.error(
                    "skipping a saved silence", extra={"path": self.path, "error": str(error)}
                )
                continue
            if silence.id:
                self._api[silence.id] = _replace_window(
                    silence, silence.starts_at, silence.ends_at, updated
                )

    def _save(self) -> None:
        if self.path is None:
            return
        records = [
            {
                "id": s.id,
                "matchers": [
                    {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                    for m in s.matchers
                ],
                "startsAt": s.starts_at,
                "endsAt": s.ends_at,
                "updatedAt": s.updated_at,
                "createdBy": s.created_by,
                "comment": s.comment,
            }
            for s in self._api.values()
        ]
        try:
            write_atomically(self.path, json.dumps({"version": 1, "silences": records}).encode())
        except OSError as error:
            log.error(
                "cannot save silences; they will not survive a restart",
                extra={"path": self.path, "error": error.strerror},
            )


def _replace_window(silence: Silence, starts_at: float, ends_at: float, updated: float) -> Silence:
    return Silence(
        silence.id,
        silence.matchers,
        float(starts_at),
        float(ends_at),
        silence.created_by,
        silence.comment,
        float(updated),
        silence.source,
    )
