#!/usr/bin/env python3
"""Write the Prometheus mixin under mixin/ (dashboards and alerts), or with --check list the files
that differ from what would be written (exit 1), as tests/unit/test_mixin.py does.

    python scripts/generate_mixin.py            # after changing scripts/dashboards/ or rules/
    python scripts/generate_mixin.py --check

The dashboards are built with grafana-foundation-sdk, a development dependency
(requirements-dev.txt); the agent never imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards import delivery, fleet, host
from dashboards.common import finish
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python scripts/generate_mixin.py"
RULES = "rules/aiops-agent.rules.yml"
DASHBOARDS = {module.UID: module.build for module in (fleet, host, delivery)}


def _dashboard(board: Dashboard) -> str:
    return json.dumps(finish(board), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def _alerts() -> str:
    header = f"# Generated from {RULES} by {COMMAND}: edit that file, then regenerate.\n"
    return header + (ROOT / RULES).read_text(encoding="utf-8")


def wanted() -> dict[str, str]:
    """Each file of the mixin and its text."""
    files = {"mixin/prometheus_alerts.yaml": _alerts()}
    for uid, build in DASHBOARDS.items():
        files[f"mixin/dashboards_out/{uid}.json"] = _dashboard(build())
    return files


def stale_files() -> dict[Path, str]:
    stale = {}
    for name, text in wanted().items():
        path = ROOT / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale[path] = text
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args()
    stale = stale_files()
    for path, text in stale.items():
        name = path.relative_to(ROOT)
        if args.check:
            print(f"stale: {name}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    if args.check and stale:
        print(f"regenerate with: {COMMAND}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
