"""Running ansible-playbook for the tests that render a role: the one beside the interpreter
running pytest (the project's venv) first, then PATH's; quiet, colourless, with the repository's
roles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

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


K8S_PLAYBOOK = """\
- name: Render aiops_k8s
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [vars.json]
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  roles:
    - aiops_k8s
"""


def render_k8s(
    where: Path, variables: dict[str, Any], *args: str, environ: dict[str, str] | None = None
) -> tuple[int, str]:
    """Write the playbook and its variables into `where` and run it from there (the role's
    variables are play variables, so the shared config role sees them too)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "render.yml").write_text(K8S_PLAYBOOK)
    (where / "vars.json").write_text(json.dumps(variables))
    scratch = where / "tmp"
    scratch.mkdir(exist_ok=True)
    result = run_playbook(
        "render.yml",
        *args,
        cwd=where,
        environ={
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "TMPDIR": str(scratch),  # where the role's temporary copy of the config goes
            **(environ or {}),
        },
    )
    assert not list(scratch.iterdir()), "the temporary copy of the config was left behind"
    return result.returncode, result.stdout
