"""Finding ansible-playbook for the tests that run a role."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def ansible_playbook() -> str:
    """The one beside the interpreter running pytest (the project's venv) first, then PATH's."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        pytest.fail("ansible-playbook not found: pip install -r requirements-deploy.txt")
    return found
