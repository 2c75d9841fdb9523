"""The fault-injection benchmark (bench/faults) end to end in its smoke setting, so that it cannot
rot: a systemd host container with the agent deployed by the role, a quiet baseline, then a disk
filling up at a steady rate. The agent's default rules must notify it on the webhook, the fill
forecast first, and resolve it after recovery. Durations are measured by the benchmark, never
asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.needs_root, pytest.mark.needs_podman, pytest.mark.timeout(1200)]


def test_fault_benchmark_smoke_detects_and_resolves_a_disk_filling_up(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "the fault benchmark needs root (podman, loop mounts, LXCFS)"
    result = subprocess.run(
        [sys.executable, "bench/faults/run.py", "--setting", "smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1100,
    )
    assert result.returncode == 0, result.stdout[-8000:]
    document = json.loads((tmp_path / "results.json").read_text())
    row = document["result"]["faults"]["disk_fill"]["agent"]
    assert row["detected"], row
    # The fill forecast pages before the plain 85 % threshold is crossed.
    assert row["first"].startswith("HostFilesystemFillingUp"), row
    assert "mountpoint=/srv/fill" in row["first"], row
    assert row["all_resolved"], row
    assert "| Disk filling at a steady rate" in (tmp_path / "RESULTS.md").read_text()
