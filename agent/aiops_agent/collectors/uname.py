"""Kernel and distribution identity (node_exporter's uname and os collectors). Both are fixed until
the host reboots or upgrades, so they are read at most once a minute."""

from __future__ import annotations

import os
import re
import shlex
import time

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text

_OS_RELEASE_LABELS = (
    "build_id",
    "id",
    "id_like",
    "image_id",
    "image_version",
    "name",
    "pretty_name",
    "variant",
    "variant_id",
    "version",
    "version_codename",
    "version_id",
)
_REFRESH_SECONDS = 60.0


class UnameCollector:
    name = "uname"

    def __init__(self, host: HostPaths) -> None:
        self._host = host
        self._cached: list[MetricFamily] = []
        self._cached_at = float("-inf")

    def collect(self) -> list[MetricFamily]:
        now = time.monotonic()
        if now - self._cached_at >= _REFRESH_SECONDS:
            self._cached = [self._uname_info(), *self._os_info()]
            self._cached_at = now
        return self._cached

    def _uname_info(self) -> MetricFamily:
        uname = os.uname()
        try:
            domain = read_text(os.path.join(self._host.proc, "sys/kernel/domainname")).strip()
        except OSError:
            domain = "(none)"
        labels = (
            ("domainname", domain),
            ("machine", uname.machine),
            ("nodename", uname.nodename),
            ("release", uname.release),
            ("sysname", uname.sysname),
            ("version", uname.version),
        )
        return gauge(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            [Sample(labels, 1.0)],
        )

    def _os_info(self) -> list[MetricFamily]:
        fields: dict[str, str] = {}
        for candidate in ("/etc/os-release", "/usr/lib/os-release"):
            try:
                text = read_text(self._host.in_root(candidate))
            except OSError:
                continue
            for line in text.splitlines():
                key, sep, value = line.partition("=")
                if sep and not key.startswith("#"):
                    try:
                        parsed = shlex.split(value)
                    except ValueError:
                        continue
                    fields[key.strip().lower()] = parsed[0] if parsed else ""
            break
        if not fields:
            return []
        labels = tuple((name, fields.get(name, "")) for name in _OS_RELEASE_LABELS)
        return [
            gauge(
                "node_os_info",
                "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
                "image_version, name, pretty_name, variant, variant_id, version, version_codename, "
                "version_id.",
                [Sample(labels, 1.0)],
            ),
            gauge(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                [
                    Sample(
                        (
                            ("id", fields.get("id", "")),
                            ("id_like", fields.get("id_like", "")),
                            ("name", fields.get("name", "")),
                        ),
                        _major_minor(fields.get("version_id", "")),
                    )
                ],
            ),
        ]


def _major_minor(version_id: str) -> float:
    """VERSION_ID 22.04 -> 22.04, 12 -> 12, rolling -> 0 (node_exporter's ^[0-9]+\\.?[0-9]*)."""
    match = re.match(r"[0-9]+\.?[0-9]*", version_id)
    return float(match.group(0)) if match else 0.0
