#!/usr/bin/env python3
"""How much of node_exporter's output aiops-agent reproduces on this machine.

Starts node_exporter (default collectors, with the agent's default include/exclude filters so the
same devices and mount points are in scope) and the agent, both on free loopback ports, scrapes
both, and prints in Markdown: N of M node_exporter families and series the agent exposes under the
same name with the same type, then the families it does not, grouped by subsystem. node_exporter's
reports about itself (node_scrape_*, node_exporter_build_info, go_*, process_*, promhttp_*) are
not host series and are left out of M.

    /work/venv/bin/python scripts/node_exporter_coverage.py > coverage.md
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import promtext  # noqa: E402
from tests.helpers.agentproc import running_agent  # noqa: E402

EXPORTER_SELF = ("node_scrape_", "node_exporter_build_info")


def node_exporter_version() -> str:
    binary = promtext.require_binary(promtext.NODE_EXPORTER_NAMES, "prometheus-node-exporter")
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = (result.stdout + result.stderr).splitlines()
    return first[0].split(" (")[0] if first else "node_exporter"


def host_families(families: dict[str, promtext.Family]) -> dict[str, promtext.Family]:
    return {
        name: family
        for name, family in families.items()
        if name.startswith("node_") and not name.startswith(EXPORTER_SELF) and family.samples
    }


def subsystem(name: str) -> str:
    """node_network_up -> node_network_*; node_load1 -> node_load*."""
    parts = name.split("_")
    return "_".join(parts[:2]).rstrip("0123456789") + "*"


def report(theirs: dict[str, promtext.Family], ours: dict[str, promtext.Family]) -> str:
    covered = sorted(n for n, f in theirs.items() if n in ours and ours[n].type == f.type)
    typed_differently = sorted(n for n, f in theirs.items() if n in ours and ours[n].type != f.type)
    missing = sorted(n for n in theirs if n not in ours)
    their_series = {(n, labels) for n, f in theirs.items() for labels in f.by_labels()}
    our_series = {(n, labels) for n, f in ours.items() for labels in f.by_labels()}
    series_covered = their_series & our_series
    extra = sorted(n for n in ours if n not in theirs)

    lines = [
        f"- Families: **{len(covered)} of {len(theirs)}** covered "
        f"({100.0 * len(covered) / max(len(theirs), 1):.0f}%)",
        f"- Series: **{len(series_covered)} of {len(their_series)}** covered "
        f"({100.0 * len(series_covered) / max(len(their_series), 1):.0f}%)",
    ]
    if typed_differently:
        lines.append(f"- Same name, different type (a bug): {', '.join(typed_differently)}")
    if extra:
        lines.append(
            "- node_* families the agent has and this node_exporter run does not: "
            + ", ".join(f"`{n}`" for n in extra)
        )
    lines += ["", "### Covered", ""]
    groups: dict[str, list[str]] = {}
    for name in covered:
        groups.setdefault(subsystem(name), []).append(name)
    for group, names in sorted(groups.items()):
        partial = [
            n for n in names if {lb for lb in theirs[n].by_labels()} - set(ours[n].by_labels())
        ]
        note = f" (series missing in: {', '.join(partial)})" if partial else ""
        lines.append(f"- `{group}`: {len(names)}{note}")
    lines += ["", "### Not covered", ""]
    groups = {}
    for name in missing:
        groups.setdefault(subsystem(name), []).append(name)
    for group, names in sorted(groups.items()):
        lines.append(f"- `{group}` ({len(names)}): " + ", ".join(f"`{n}`" for n in names))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    with promtext.node_exporter(processes=False) as ne_url, running_agent({}) as agent:
        theirs = host_families(promtext.parse(promtext.fetch(ne_url)))
        ours = host_families(promtext.parse(agent.metrics()))
    print(
        f"{node_exporter_version()} (default collectors) vs aiops-agent on "
        f"{platform.system()} {platform.release()} {platform.machine()}:\n"
    )
    print(report(theirs, ours), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
