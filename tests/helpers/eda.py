"""Event-Driven Ansible for the tests: where its virtualenv is (scripts/setup.sh makes it; its
pins conflict with the main one's, see requirements-eda.txt) and the environment that runs
ansible-rulebook with the main virtualenv's Ansible (which carries containers.podman)."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
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


def sign(secret: str, body: bytes) -> dict[str, str]:
    """The headers eda.builtin.webhook verifies: HMAC-SHA256 of the body, hex, in
    X-Hub-Signature-256 (what the agent sends with signature {header: X-Hub-Signature-256,
    include_timestamp: false})."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


class Rulebook:
    """`ansible-rulebook` as a subprocess; its output (rules' debug messages, the webhook's access
    log, the playbooks' output) goes to a file."""

    def __init__(self, arguments: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.log_path = cwd / "ansible-rulebook.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(eda_venv() / "bin" / "ansible-rulebook"), *arguments],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self, host: str, port: int, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"ansible-rulebook did not listen on {host}:{port}:\n{self.log_text()[-5000:]}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
