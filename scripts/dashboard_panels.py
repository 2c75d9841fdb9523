#!/usr/bin/env python3
"""Facts about Grafana's "Node Exporter Full" dashboard that the parity test needs: for each
panel, its row, its title and the metric names its queries read. The dashboard itself is not
committed (nor are its queries); a developer downloads its JSON and regenerates the facts:

    curl -o /tmp/node-exporter-full.json \\
        https://raw.githubusercontent.com/rfmoz/grafana-dashboards/REV/prometheus/node-exporter-full.json
    scripts/dashboard_panels.py /tmp/node-exporter-full.json --revision REV \\
        > tests/data/node-exporter-full-panels.json

Metric names are the identifiers in a query that start with node_ or process_ (the dashboard's
functions, keywords and label names do not), read after quoted strings, label matchers and
range selectors are removed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

SOURCE = (
    "https://github.com/rfmoz/grafana-dashboards/blob/{revision}/prometheus/node-exporter-full.json"
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_METRIC = re.compile(r"\b(?:node|process)_[a-zA-Z0-9_:]*")


def metric_names(expression: str) -> list[str]:
    text = _RANGE.sub("", _BRACES.sub("", _STRING.sub("", expression)))
    return sorted(set(_METRIC.findall(text)))


def panels(items: list[dict[str, Any]], row: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(row title, panel) for every panel, rows' nested panels included."""
    for item in items:
        if item.get("type") == "row":
            title = str(item.get("title", ""))
            yield from panels(item.get("panels", []), title)
            row = title
        else:
            yield row, item


def facts(dashboard: dict[str, Any], revision: str, digest: str) -> dict[str, Any]:
    out = []
    for row, panel in panels(dashboard["panels"]):
        names = sorted(
            {
                name
                for target in panel.get("targets", [])
                for name in metric_names(target.get("expr", ""))
            }
        )
        if names:
            out.append({"row": row, "title": panel.get("title", ""), "metrics": names})
    return {
        "source": SOURCE.format(revision=revision),
        "revision": revision,
        "dashboard_title": dashboard.get("title", ""),
        "dashboard_version": dashboard.get("version"),
        "sha256": digest,
        "panels": out,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dashboard", help="the dashboard's JSON, as downloaded")
    parser.add_argument("--revision", required=True, help="git commit of rfmoz/grafana-dashboards")
    args = parser.parse_args()
    with open(args.dashboard, "rb") as handle:
        raw = handle.read()
    result = facts(json.loads(raw), args.revision, hashlib.sha256(raw).hexdigest())
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
