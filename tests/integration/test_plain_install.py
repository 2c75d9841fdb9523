"""Acceptance: the agent as a user gets it. The wheel is built from this source tree, installed
with no extras into a fresh venv (its dependencies from the package index or pip's cache, as
`pip install aiops-agent` does), and `aiops-agent run` from that venv delivers a signed webhook
to a real HTTP receiver on loopback. The rest of the suite runs with the test extras installed,
which is how a missing runtime dependency (requests) once went unnoticed."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.agentproc import running_agent
from tests.helpers.receivers import Recorder

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# What the wheel is built from (as roles/aiops_agent/files/build_wheelhouse.py copies it), so
# the build never writes into the source tree.
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
SECRET = "acceptance-hmac-secret"


def run(command: list[str], timeout: float = 600) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("plain-install")
    source = work / "src"
    shutil.copytree(
        REPO / "agent", source / "agent", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in SOURCE_FILES:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, source / name)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(work / "dist"),
            str(source),
        ]
    )
    (wheel,) = (work / "dist").glob("aiops_agent-*.whl")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    yield venv


def test_wheel_without_extras_delivers_a_signed_webhook(
    plain_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent must come from the venv's wheel, not from this checkout.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    located = subprocess.run(
        [
            str(plain_venv / "bin" / "python"),
            "-c",
            "import aiops_agent; print(aiops_agent.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=plain_venv,
    )
    assert located.stdout.startswith(str(plain_venv)), located
    recorder = Recorder()
    config = {
        "agent": {"interval": "1s", "hostname": "plain-host"},
        "collectors": {"filesystem": {"enabled": False}},
        "detection": {
            "rules": [{"name": "PlainInstall", "metric": "node_time_seconds", "warning": 0}],
            "baselines": {"enabled": False},
        },
        "receivers": {"hook": {"webhook": {"url": f"{recorder.url}/hook", "hmac_secret": SECRET}}},
        "routes": [{"receiver": "hook", "matchers": ['alertname="PlainInstall"']}],
    }
    try:
        with running_agent(
            config, agent_command=[str(plain_venv / "bin" / "aiops-agent")]
        ) as agent:
            try:
                (request,) = recorder.wait(1, timeout=60)[:1]
            except AssertionError as error:
                raise AssertionError(
                    f"{error}; agent stderr:\n{agent.stderr_text()[-3000:]}"
                ) from None
    finally:
        recorder.stop()
    timestamp = request.headers["x-aiops-timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["x-aiops-signature"] == f"sha256={expected.hexdigest()}"
    body = request.json()
    assert request.path == "/hook"
    assert body["status"] == "firing"
    assert body["group"]["labels"] == {"alertname": "PlainInstall", "host": "plain-host"}
    assert body["alerts"][0]["labels"]["alertname"] == "PlainInstall"
    assert body["alerts"][0]["labels"]["host"] == "plain-host"
