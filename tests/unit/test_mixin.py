"""The mixin (mixin/) is what scripts/generate_mixin.py makes today: dashboards from
scripts/dashboards/ and the alerts from rules/. Its panels are queried against a real Prometheus
in tests/integration/test_mixin_dashboards.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mixin_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/generate_mixin.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # On failure the script names each stale file and the command that regenerates them.
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_lists_every_dashboard_and_every_incident_only_panel() -> None:
    """mixin/README.md's table of panels that can be empty is exactly the panels marked so."""
    readme = (ROOT / "mixin/README.md").read_text(encoding="utf-8")
    marked = set()
    for path in sorted((ROOT / "mixin/dashboards_out").glob("*.json")):
        assert f"dashboards_out/{path.name}" in readme, path.name
        board = json.loads(path.read_text(encoding="utf-8"))
        title = board["title"].removeprefix("aiops-agent / ")
        for panel in board["panels"]:
            if panel.get("description", "").startswith("Shows data only during an incident"):
                marked.add((title, panel["title"]))
    section = readme.split("## Panels that can be empty", 1)[1]
    rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \| [^|]+ \|$", section, re.MULTILINE)
    listed = {row for row in rows if row != ("dashboard", "panel")}
    assert listed == marked
