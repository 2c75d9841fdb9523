"""The remediation content (roles aiops_remediation and aiops_rulebook, the playbook, the
rulebook, the Molecule scenario, the collection's metadata) stays yamllint- and ansible-lint-clean
(production profile), without root or podman."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTENT = [
    "roles/aiops_remediation",
    "roles/aiops_rulebook",
    "playbooks/remediate.yml",
    "extensions",
    "molecule/rulebook",
]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_yamllint() -> None:
    result = _run(str(BIN / "yamllint"), "-s", *CONTENT, "galaxy.yml", "meta", ".config")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile() -> None:
    result = _run(str(BIN / "ansible-lint"), "--offline", "-f", "pep8", *CONTENT)
    assert result.returncode == 0, result.stdout + result.stderr
