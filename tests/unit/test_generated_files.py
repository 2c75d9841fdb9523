"""Every file generated from the agent's config schema is what scripts/generate.py makes of it
today: the example config, docs/configuration.md, docs/alerting.md's default rule set and the
variables, argument_specs and template of roles/aiops_agent_config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/generate.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # On failure the script names each stale file and the command that regenerates them.
    assert result.returncode == 0, result.stdout + result.stderr
