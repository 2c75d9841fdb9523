"""Shared helpers for the aiops_agent scenario: run the role again from inside a test (to check
reload, upgrade, a broken config and uninstall), read the agent's state on every host, and print
`journalctl -u aiops-agent` of a host whose test failed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

SERVICE = "aiops-agent"
CONFIG = "/etc/aiops-agent/config.yaml"
BIN = "/opt/aiops-agent/venv/bin/aiops-agent"
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
ROLE_FILES = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "roles" / "aiops_agent" / "files"
UPGRADE_VERSION = "0.1.99"


def hosts() -> dict[str, testinfra.host.Host]:
    names = AnsibleRunner(INVENTORY).get_hosts("all")
    return {name: testinfra.get_host(f"podman://{name}") for name in names}


def run_playbook(*extra: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the scenario's converge.yml against every host, as Molecule does."""
    command = ["ansible-playbook", "-i", INVENTORY, str(SCENARIO / "converge.yml"), *extra]
    if check:
        command += ["--check", "--diff"]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    print(f"$ {' '.join(command)}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    return result


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host."""
    counters = {}
    for line in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines():
        match = re.match(r"^\s*(\S+)\s+:\s+(ok=.*)$", line)
        if match:
            counters[match.group(1)] = {
                key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))
            }
    return counters


def main_pid(host: testinfra.host.Host) -> int:
    return int(host.check_output(f"systemctl show -p MainPID --value {SERVICE}"))


def http_get(host: testinfra.host.Host, path: str) -> tuple[int, str]:
    """GET from inside the host (python3 is there; curl need not be)."""
    script = (
        "import sys,urllib.request,urllib.error\n"
        "try:\n"
        f" r=urllib.request.urlopen('http://127.0.0.1:9877{path}',timeout=5);print(r.status);"
        "print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n print(e.code);print(e.read().decode())\n"
    )
    out = host.check_output(f"python3 -c {_quote(script)}")
    status, _, body = out.partition("\n")
    return int(status), body


def metric(host: testinfra.host.Host, name: str, labels: str = "") -> list[tuple[str, float]]:
    _, body = http_get(host, "/metrics")
    found = []
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            if labels in series:
                found.append((series, float(value)))
    return found


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def clone_source() -> Path:
    """The scenario's source as another controller's checkout has it: the same content, other
    file times. Its wheelhouse goes beside it."""
    copy = Path(tempfile.mkdtemp(prefix="aiops-second-controller-", dir=EPHEMERAL)) / "source"
    shutil.copytree(EPHEMERAL / "source", copy)
    later = time.time() + 86400
    for path in copy.rglob("*"):
        os.utime(path, (later, later))
    return copy


def build_upgrade_wheel() -> None:
    """The agent's wheel under another version, from the scenario's source snapshot."""
    source = EPHEMERAL / "source"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(source, copy)
        for relative in ("pyproject.toml", "agent/aiops_agent/__init__.py"):
            path = copy / relative
            text = path.read_text()
            text = re.sub(
                r'(?m)^(version|__version__)\s*=\s*"[^"]+"', rf'\1 = "{UPGRADE_VERSION}"', text
            )
            path.write_text(text)
        subprocess.run(
            [
                "python3",
                str(ROLE_FILES / "build_wheelhouse.py"),
                "--wheelhouse",
                str(EPHEMERAL / "wheelhouse"),
                "--lock",
                str(copy / "requirements-runtime.lock"),
                "--source",
                str(copy),
            ],
            check=True,
            capture_output=True,
            text=True,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    host = item.funcargs.get("host")
    targets = [host] if host is not None else list(hosts().values())
    for target in targets:
        try:
            journal = target.run(f"journalctl -u {SERVICE} -n 60 --no-pager").stdout
        except Exception as error:  # noqa: BLE001 - a report must not fail the report
            journal = f"(journal unavailable: {error})"
        report.sections.append((f"journalctl -u {SERVICE} ({target.backend.name})", journal))
