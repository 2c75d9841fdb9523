#!/usr/bin/env python3
"""Write the Prometheus mixin under mixin/ (dashboards and alerts), or with --check list the files
that differ from what would be written (exit 1), as tests/unit/test_mixin.py does.

    python scripts/generate_mixin.py            # after changing scripts/dashboards/ or rules/
    python scripts/generate_mixin.py --check

The dashboards are built with grafana-foundation-sdk, a development dependency
(requirements-dev.txt); the agent never imports it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from dashboards import delivery, fleet, host
from dashboards.common import finish
from generators import files
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


def _dashboard_file(build: Callable[[], Dashboard]) -> Callable[[str], str]:
    return lambda _current: _dashboard(build())


# The mixin's files are made afresh (their current text is not read).
TARGETS: files.Targets = {
    "mixin/prometheus_alerts.yaml": lambda _current: _alerts(),
    **{f"mixin/dashboards_out/{uid}.json": _dashboard_file(b) for uid, b in DASHBOARDS.items()},
}


if __name__ == "__main__":
    sys.exit(files.main(ROOT, TARGETS, COMMAND, __doc__.splitlines()[0]))
