"""Helpers for the aiops_rulebook scenario: POST to the webhook from inside the host, run the
role again (uninstall), and print the service's journal when a test failed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

SERVICE = "aiops-rulebook"
SECRET = "molecule-hmac-s3cr3t-0123456789"  # noqa: S105 - the scenario's own
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]


def alert(host: str, alertname: str, key: str) -> bytes:
    """A firing notification in the agent's webhook schema 2: one group of one alert."""
    labels = {"alertname": alertname, "severity": "critical", "host": host}
    group = {"key": key, "labels": {"alertname": alertname, "host": host}, "sequence": 1}
    document = {"version": "2", "idempotency_key": key, "status": "firing", "group": group,
                "alerts": [{"fingerprint": key, "status": "firing", "labels": labels}]}  # fmt: skip
    return json.dumps(document).encode()


def post(host: testinfra.host.Host, body: bytes, signature: str | None) -> int:
    """POST the body to the webhook from inside the host; the HTTP status."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    script = (
        "import sys,urllib.request,urllib.error\n"
        f"r=urllib.request.Request('http://127.0.0.1:5000/aiops',data={body!r},headers={headers!r})\n"
        "try:\n print(urllib.request.urlopen(r,timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n print(e.code)\n"
    )
    return int(host.check_output(f"python3 -c {_quote(script)}"))


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def run_playbook(*extra: str) -> subprocess.CompletedProcess[str]:
    command = ["ansible-playbook", "-i", INVENTORY, str(SCENARIO / "converge.yml"), *extra]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    print(f"$ {' '.join(command)}\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    return result


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    host = item.funcargs.get("host")
    if report.when != "call" or not report.failed or host is None:
        return
    journal = host.run(f"journalctl -u {SERVICE} -n 80 --no-pager").stdout
    report.sections.append((f"journalctl -u {SERVICE}", journal))
