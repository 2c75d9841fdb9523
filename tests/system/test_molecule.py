"""The Molecule scenarios, run as part of the suite: real systemd hosts (podman containers of
Debian 12 and 13) for the VM role, and the rendered Kubernetes workloads under `podman kube play`.
They need root and podman; CI runs as root and the setup script installs podman."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.needs_root, pytest.mark.needs_podman, pytest.mark.timeout(3600)]


def run_scenario(script: str) -> None:
    assert os.geteuid() == 0, "the Molecule scenarios need root (podman with systemd containers)"
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=3000,
    )
    elapsed = time.monotonic() - started
    print(f"{script}: exit {result.returncode} after {elapsed:.0f} s")
    assert result.returncode == 0, (
        f"{script} failed after {elapsed:.0f} s:\n{result.stdout[-20000:]}"
    )


def test_molecule_default_vm_role() -> None:
    run_scenario("test-molecule-default.sh")


def test_molecule_kubernetes() -> None:
    run_scenario("test-molecule-kubernetes.sh")
