"""The mixin (mixin/) is what scripts/generate_mixin.py makes today: dashboards from
scripts/dashboards/ and the alerts from rules/. Its panels are queried against a real Prometheus
in tests/integration/test_mixin_dashboards.py."""

from __future__ import annotations

import json
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


def test_every_dashboard_is_listed_in_the_mixin_readme() -> None:
    readme = (ROOT / "mixin/README.md").read_text(encoding="utf-8")
    for path in sorted((ROOT / "mixin/dashboards_out").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        assert f"dashboards_out/{path.name}" in readme, path.name
        for panel in board["panels"]:
            if "Shows data only during an incident" in panel.get("description", ""):
                assert panel["title"] in readme, f"{path.name}: {panel['title']}"
