"""The small JSON files the alerting side keeps in the state directory (silences.json,
alerts.json, baselines.json): written atomically, read back with a version check. A file that
cannot be used is logged and renamed aside (NAME.corrupt-TIME), so the next save does not
overwrite what a person may want to inspect, and the agent starts without it."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Optional

log = logging.getLogger("aiops_agent.alerting")

MAX_SIZE = 64 << 20  # bytes; larger is no file this agent wrote (max_alerts bounds alerts.json)


def write_atomically(path: str, data: bytes) -> None:
    """Write a file so that a crash or power loss leaves either the old or the new content,
    never a mix: a temporary file, fsynced, renamed over the old one, and the directory fsynced
    so the rename itself is durable."""
    temporary = f"{path}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    try:
        directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    except OSError:
        return  # the file is written; only the rename's durability is not guaranteed
    try:
        os.fsync(directory)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename has happened
    finally:
        os.close(directory)


def read_records(path: str, version: int, what: str) -> Optional[list[Any]]:
    """The list under `what` in the JSON object in `path` ({"version": N, WHAT: [...]}), or None
    when there is no file. A file that is unreadable, not such an object or of another version
    is set aside (and logged) and None returned; checking each record is the caller's part."""
    try:
        if os.path.getsize(path) > MAX_SIZE:
            raise ValueError(f"larger than {MAX_SIZE} bytes")
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        if document.get("version") != version:
            raise ValueError(f"version {document.get('version')!r}, expected {version}")
        records = document.get(what)
        if not isinstance(records, list):
            raise ValueError(f"{what} is not a list")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError included
        aside = set_aside(path)
        log.error(
            f"cannot use saved {what}; starting without them",
            extra={
                "path": path,
                "error": f"{type(error).__name__}: {error}",
                "moved_to": aside or "(could not be moved)",
            },
        )
        return None
    return records


def set_aside(path: str) -> Optional[str]:
    """Rename `path` to PATH.corrupt-YYYYMMDDTHHMMSSZ; the new name, or None if it failed."""
    aside = f"{path}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    try:
        os.replace(path, aside)
    except OSError:
        return None
    return aside
