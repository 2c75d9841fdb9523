"""Host series names. The collectors publish node_exporter's names (node_*) by default; with
metrics.node_exporter_names false they publish the same series as aiops_host_*, and whatever
selects series by name (rules, baselines) translates the same way."""

from __future__ import annotations

import re
import socket

COMPAT_PREFIX, OWN_HOST_PREFIX = "node_", "aiops_host_"
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Z][a-z])")
# promtool reads "sec" as an abbreviated unit and flags "bits" as not a base unit (the entropy
# families' help says they count bits).
_SPELLED_OUT = {"sec": "secondary", "bits": ""}


def own_host_name(compatible_name: str, kind: str = "counter") -> str:
    """node_memory_MemTotal_bytes -> aiops_host_memory_mem_total_bytes: our prefix, and names
    promtool's lint accepts, which node_exporter's meminfo names are not: snake case, no word
    promtool reads as an abbreviated unit, and "_total" only on counters."""
    parts = _CAMEL_BOUNDARY.sub("_", compatible_name[len(COMPAT_PREFIX) :]).lower().split("_")
    spelled = (_SPELLED_OUT.get(part, part) for part in parts)
    name = OWN_HOST_PREFIX + "_".join(part for part in spelled if part)
    return name[: -len("_total")] if kind != "counter" and name.endswith("_total") else name


def host_series_name(name: str, compat_names: bool) -> str:
    """A series name as written in a rule or selector (node_exporter's) as the collectors publish
    it under metrics.node_exporter_names."""
    if compat_names or not name.startswith(COMPAT_PREFIX):
        return name
    return own_host_name(name)


def host_name(configured: str) -> str:
    """This host's name in alerts and links: agent.hostname when set, else the host's own."""
    return configured or socket.gethostname()
