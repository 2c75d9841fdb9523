"""Running ansible-playbook for the tests that render a role: the one beside the interpreter
running pytest (the project's venv) first, then PATH's; quiet, colourless, with the repository's
roles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        pytest.fail("ansible-playbook not found: pip install -r requirements-deploy.txt")
    return found


def run_playbook(
    *args: str, cwd: Path = ROOT, environ: Optional[Mapping[str, str]] = None
) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook ARGS` in `cwd`, stdout and stderr together, never raising on failure."""
    env = dict(
        os.environ,
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        **(environ or {}),
    )
    return subprocess.run(
        [ansible_playbook(), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=240,
        check=False,
    )
