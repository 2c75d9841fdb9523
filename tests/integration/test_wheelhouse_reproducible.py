"""Two controllers build the same source: the role's wheelhouse must give the same agent wheel,
byte for byte, whatever the checkouts' file times and modes (else a deployment from the second
controller reinstalls and restarts every agent), and the digest the role compares with a host
(build_wheelhouse.py's `record`) must be what read_installed.py reads from the installed agent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.locks import BUILD_WHEELHOUSE, ROOT, RUNTIME_LOCK

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

READ_INSTALLED = BUILD_WHEELHOUSE.with_name("read_installed.py")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".mypy_cache")


def checkout(directory: Path, mtime: int, mode: int) -> Path:
    """A copy of what the wheel is built from, as another clone would have it: other file times
    (a clone's are its checkout time) and other modes (another umask)."""
    directory.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copyfile(ROOT / name, directory / name)
    shutil.copytree(ROOT / "agent", directory / "agent", ignore=IGNORE)
    for path in directory.rglob("*"):
        if path.is_file():
            path.chmod(mode)
            os.utime(path, (mtime, mtime))
    return directory


def build(wheelhouse: Path, source: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    result = subprocess.run(
        [sys.executable, str(BUILD_WHEELHOUSE), "--wheelhouse", str(wheelhouse),
         "--lock", str(RUNTIME_LOCK), "--source", str(source)],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_two_checkouts_build_the_same_wheel_and_record(tmp_path: Path) -> None:
    first = build(tmp_path / "wh1", checkout(tmp_path / "src1", 1_600_000_000, 0o644))
    second = build(tmp_path / "wh2", checkout(tmp_path / "src2", 1_700_000_000, 0o664))
    wheel1, wheel2 = Path(first["agent_wheel"]), Path(second["agent_wheel"])
    assert wheel1.name == wheel2.name
    assert wheel1.read_bytes() == wheel2.read_bytes(), "the same source built different wheels"
    assert first["record"] == second["record"]


def test_the_installed_agent_reads_as_the_wheel_it_came_from(tmp_path: Path) -> None:
    report = build(tmp_path / "wh", checkout(tmp_path / "src", 1_600_000_000, 0o644))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    # The agent's files only (its dependencies do not change its digest), offline; --target, not
    # --prefix, which would first uninstall the agent of the environment running the tests.
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "-q",
         "--no-deps", "--no-index", "--target", str(site), report["agent_wheel"]],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    read = subprocess.run(
        [sys.executable, "-c", READ_INSTALLED.read_text(), json.dumps({"venv": str(venv)})],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    installed = json.loads(read.stdout)
    assert installed["venv"] is True
    assert installed["version"] == report["version"]
    assert installed["record"] == report["record"]
    assert installed["dists"]["aiops-agent"] == report["version"]
