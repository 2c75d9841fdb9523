#!/usr/bin/env python3
"""How much of node_exporter's output aiops-agent reproduces, against node_exporter 1.5 (this
host's Debian 12 package) and 1.9 (Debian 13's, fetched and cached by tests/helpers/debian.py),
on this machine and on host trees: procfs' upstream fixtures and the tests' synthetic host
(tests/helpers/hosttrees.py), plus any tree given with --tree (e.g. node_exporter's own
collector/fixtures unpacked).

Each exporter runs with its default collectors and the agent's include/exclude filters; on a
tree both read it through their path settings. Prints, in Markdown: N of M node_exporter
families and series the agent exposes under the same name, the families where they disagree
(tests/parity.py: type, help, labels, series, values; values only on trees, where nothing
moves), and the families the agent does not have, grouped by subsystem. node_exporter's reports
about itself (node_scrape_*, node_exporter_build_info, node_textfile_*, go_*, process_*,
promhttp_*) are left out of M.

    .venv/bin/python scripts/node_exporter_coverage.py [--tree DIR] [--details] > coverage.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import parity, promtext  # noqa: E402
from tests.helpers import debian, hosttrees  # noqa: E402
from tests.helpers.agentproc import running_agent  # noqa: E402

VERSIONS = ("1.5", "1.9")


def binary(version: str) -> str | None:
    return None if version == "1.5" else str(debian.node_exporter_19())


def host_pages() -> dict[str, dict[str, promtext.Family]]:
    pages = {}
    with running_agent({}) as agent:
        for version in VERSIONS:
            with promtext.node_exporter(processes=False, binary=binary(version)) as url:
                pages[version] = promtext.parse(promtext.fetch(url))
        pages["agent"] = promtext.parse(agent.metrics())
    return pages


def tree_pages(root: Path) -> dict[str, dict[str, promtext.Family]]:
    pages = {"agent": promtext.parse(hosttrees.agent_page(root))}
    for version in VERSIONS:
        flags = hosttrees.node_exporter_tree_flags(root, version)
        with promtext.node_exporter(
            processes=False, binary=binary(version), extra_flags=flags
        ) as url:
            pages[version] = promtext.parse(promtext.fetch(url))
    return pages


def subsystem(name: str) -> str:
    """node_network_up -> node_network_*; node_load1 -> node_load*."""
    parts = name.split("_")
    return "_".join(parts[:2]).rstrip("0123456789") + "*"


def section(
    title: str, pages: dict[str, dict[str, promtext.Family]], details: bool, live: bool
) -> str:
    collisions = parity.hwmon_collisions(pages["agent"], pages["1.9"])
    lines = [f"### {title}", ""]
    reports = {}
    for version in VERSIONS:
        report = parity.compare(
            pages["agent"],
            pages[version],
            newer_page=pages["1.9"] if version == "1.5" else None,
            known=parity.KNOWN_19,
            ignore_series=parity.hwmon_ignorer(collisions),
            # On a live host values move between the two scrapes; compare them on trees only.
            live=set(pages["agent"]) if live else parity.LIVE,
        )
        reports[version] = report
        families, series = len(report.theirs), report.series_total
        lines.append(
            f"- node_exporter {version}: families **{len(report.covered)} of {families}** "
            f"({100.0 * len(report.covered) / max(families, 1):.0f}%), series "
            f"**{report.series_covered} of {series}** "
            f"({100.0 * report.series_covered / max(series, 1):.0f}%); mismatches in covered "
            f"families: {len(report.mismatches)}"
        )
        for mismatch in report.mismatches:
            lines.append(f"  - mismatch: {mismatch}")
        for known in report.known:
            lines.append(f"  - known difference: {known}")
    if details:
        report = reports["1.9"]
        groups: dict[str, list[str]] = {}
        for name in report.missing:
            groups.setdefault(subsystem(name), []).append(name)
        lines += ["", "Not covered (node_exporter 1.9):", ""]
        for group, names in sorted(groups.items()):
            lines.append(f"- `{group}` ({len(names)}): " + ", ".join(f"`{n}`" for n in names))
        if report.extra:
            lines += ["", "The agent's node_* families this node_exporter 1.9 run does not have: "]
            lines.append(", ".join(f"`{n}`" for n in report.extra))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="another host tree to measure")
    parser.add_argument("--details", action="store_true", help="list what is not covered")
    args = parser.parse_args()
    print(
        f"aiops-agent vs node_exporter (default collectors) on {platform.system()} "
        f"{platform.release()} {platform.machine()}:\n"
    )
    print(section("This host", host_pages(), args.details, live=True))
    print(
        section(
            "procfs' upstream fixtures", tree_pages(hosttrees.procfs_tree()), args.details, False
        )
    )
    with tempfile.TemporaryDirectory(prefix="aiops-synthetic-") as temporary:
        root = hosttrees.synthetic_tree(Path(temporary) / "host")
        print(
            section(
                "Synthetic host (tests/helpers/hosttrees.py)", tree_pages(root), args.details, False
            )
        )
    for tree in args.tree:
        print(section(f"Tree {tree}", tree_pages(Path(tree)), args.details, False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
