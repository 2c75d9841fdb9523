"""Stable short ids from labels: the alerts' fingerprints, silence ids from config and the ids
of notification groups. Here in the base layer so alerting and notify compute them alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_FNV_OFFSET, _FNV_PRIME, _MASK64 = 14695981039346656037, 1099511628211, (1 << 64) - 1


def fnv1a64(parts: Iterable[str]) -> str:
    """64-bit FNV-1a over the parts, each followed by a 0xff separator byte, as 16 hex digits."""
    value = _FNV_OFFSET
    for part in parts:
        for byte in part.encode():
            value = ((value ^ byte) * _FNV_PRIME) & _MASK64
        value = ((value ^ 0xFF) * _FNV_PRIME) & _MASK64
    return f"{value:016x}"


def fingerprint(labels: Mapping[str, str]) -> str:
    """The alert's identity, computed exactly as Prometheus' LabelSet.Fingerprint (FNV-1a over
    sorted name/value pairs), so it equals the fingerprint Alertmanager shows for the same alert.
    Also spares every host the ~3 MiB that importing hashlib's OpenSSL costs."""
    return fnv1a64(part for name in sorted(labels) for part in (name, labels[name]))
