"""Role aiops_rulebook on a real systemd host (molecule/rulebook): Java 17 from Debian,
ansible-rulebook from PyPI, the collection, the sandboxed service verifying webhook signatures,
check mode, idempotence and uninstall. Needs root, podman and the network (apt, PyPI)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.needs_root, pytest.mark.needs_podman, pytest.mark.timeout(2400)]


def test_molecule_rulebook_role() -> None:
    assert os.geteuid() == 0, "the scenario needs root (podman with systemd containers)"
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test-molecule-rulebook.sh")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=2300,
    )
    elapsed = time.monotonic() - started
    print(f"test-molecule-rulebook.sh: exit {result.returncode} after {elapsed:.0f} s")
    assert result.returncode == 0, result.stdout[-20000:]
