"""scripts/run.sh (through `scripts/setup.sh --runtime`) installs only when the project changed:
once .venv is complete, a second set-up needs no network and reinstalls nothing, and run.sh starts
the agent offline. A change to pyproject.toml is noticed (and, offline, fails loudly).

Runs on a copy of the repository's files, so the checkout's own .venv is not touched. The first
set-up needs PyPI (as on a user's machine); the later ones get an index on a closed port."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)
UNREACHABLE_INDEX = "http://127.0.0.1:9/"  # the discard port: nothing listens there


def copy_of_repo(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if not source.is_file():  # deleted in the work tree but still in the index
            continue
        destination = target / name.decode()
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
        destination.chmod(source.stat().st_mode & 0o777)
    return target


def offline_env() -> dict[str, str]:
    """No index that answers, no local wheel directories, no pip configuration files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        PIP_INDEX_URL=UNREACHABLE_INDEX,
        PIP_CONFIG_FILE=os.devnull,
        PIP_DEFAULT_TIMEOUT="5",
        PIP_RETRIES="0",
    )
    return env


def setup_runtime(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/setup.sh", "--runtime"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def installed_state(repo: Path) -> dict[str, float]:
    """Modification times of the venv's installed distributions and of the set-up stamp."""
    site = next((repo / ".venv" / "lib").glob("python3*/site-packages"))
    state = {p.name: p.stat().st_mtime for p in site.iterdir() if p.name.endswith(".dist-info")}
    state[".aiops-setup-stamp"] = (repo / ".venv" / ".aiops-setup-stamp").stat().st_mtime
    return state


def test_second_setup_is_offline_and_installs_nothing(tmp_path: Path) -> None:
    repo = copy_of_repo(tmp_path / "repo")
    first = setup_runtime(repo, dict(os.environ))
    assert first.returncode == 0, first.stderr[-5000:]
    # No Python warnings from the build (setuptools' BuildBackendWarning about the license was
    # printed on every start before).
    assert not re.search(r"\w+Warning\b", first.stderr), first.stderr[-5000:]
    before = installed_state(repo)

    second = setup_runtime(repo, offline_env())
    assert second.returncode == 0, second.stderr[-5000:]
    assert "up to date" in second.stderr, second.stderr
    assert installed_state(repo) == before  # nothing was reinstalled

    # run.sh starts the agent offline, in the foreground.
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "http": {"listen": "127.0.0.1:0"},
                "agent": {"state_dir": str(tmp_path / "state")},
            }
        )
    )
    log = tmp_path / "agent.log"
    started = time.monotonic()
    with open(log, "wb") as stderr:
        agent = subprocess.Popen(
            ["bash", "scripts/run.sh", "--config", str(config), "--log-format", "json"],
            cwd=repo,
            env=offline_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 120
        while '"agent started"' not in log.read_text(errors="replace"):
            assert agent.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
        print(
            f"\nrun.sh, second start, offline: agent started after {time.monotonic() - started:.2f} s"
        )
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)
    assert installed_state(repo) == before


def test_a_changed_project_is_installed_again(tmp_path: Path) -> None:
    repo = copy_of_repo(tmp_path / "repo")
    assert setup_runtime(repo, dict(os.environ)).returncode == 0
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# changed\n")
    # Offline, the reinstall the change calls for cannot happen: set-up must say so, not
    # pretend the venv is current.
    offline = setup_runtime(repo, offline_env())
    assert offline.returncode != 0, offline.stderr
    assert "up to date" not in offline.stderr
    online = setup_runtime(repo, dict(os.environ))
    assert online.returncode == 0, online.stderr[-5000:]
    assert "setup: ready" in online.stderr
