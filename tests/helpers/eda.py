"""Event-Driven Ansible for the tests: where its virtualenv is (scripts/setup.sh makes it; its
pins conflict with the main one's, see requirements-eda.txt) and the environment that runs
ansible-rulebook with the main virtualenv's Ansible (which carries containers.podman)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def eda_venv() -> Path:
    venv = Path(os.environ.get("AIOPS_EDA_VENV", ROOT / ".venv-eda"))
    if not (venv / "bin" / "ansible-rulebook").exists():
        pytest.fail(
            f"no ansible-rulebook in {venv}: run scripts/setup.sh (or set AIOPS_EDA_VENV to a "
            "virtualenv with requirements-eda.txt)"
        )
    return venv


def eda_environment(**extra: str) -> dict[str, str]:
    """PATH with this interpreter's bin first: ansible-rulebook looks up ansible-galaxy there and
    ansible-runner starts ansible-playbook from it, so playbooks get the main virtualenv's
    collections; then the EDA virtualenv's bin for ansible-rulebook itself."""
    main_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join([main_bin, str(eda_venv() / "bin"), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1", **extra}
