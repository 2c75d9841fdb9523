"""The agent's webhook against Event-Driven Ansible's own webhook source (ansible-rulebook's
eda.builtin.webhook and insert_hosts_to_meta, run from the EDA virtualenv): with the EDA-style
signature the source accepts the agent's request and a rulebook gets the alert with the alerting
host in meta.hosts; the agent's default signature, a forged one and none are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from aiops_agent.config.notify_schema import WebhookSignature
from aiops_agent.notify import create_dispatcher
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.senders import webhook
from aiops_agent.notify.senders.webhook import signature_headers
from tests.helpers.eda import ROOT, eda_venv
from tests.helpers.notify import AGENT_URL, CONTEXT, alert, as_received, config_for, metric
from tests.helpers.ports import listening_port

pytestmark = pytest.mark.integration
SECRET = "eda-shared-secret"
EDA_SIGNATURE = {"header": "X-Hub-Signature-256", "include_timestamp": False}


class EdaSource:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}/aiops"

    def next_event(self, timeout: float = 30.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line:
                event: dict[str, Any] = json.loads(line)
                return event
            if self.process.poll() is not None:
                break
        raise AssertionError(f"no event from the EDA webhook source within {timeout} s")


@pytest.fixture
def eda_source(tmp_path: Path) -> Iterator[EdaSource]:
    stderr = (tmp_path / "eda.log").open("w")
    process = subprocess.Popen(
        [
            str(eda_venv() / "bin" / "python"),
            str(ROOT / "tests" / "helpers" / "eda_webhook_source.py"),
            "0",  # the kernel picks the port; it is read back from the socket table
            SECRET,
            "payload.group.labels.host",
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        try:
            port = listening_port(process, "the EDA webhook source", timeout=60)
        except AssertionError as error:
            raise AssertionError(f"{error}:\n{(tmp_path / 'eda.log').read_text()}") from None
        yield EdaSource(process, port)
    finally:
        process.terminate()
        process.wait(10)
        stderr.close()


def test_eda_source_accepts_the_agent_and_limits_to_the_host(
    tmp_path: Path, eda_source: EdaSource
) -> None:
    receivers = {
        "eda": {
            "webhook": {"url": eda_source.url, "hmac_secret": SECRET, "signature": EDA_SIGNATURE}
        }
    }
    dispatcher = create_dispatcher(
        config_for(tmp_path, receivers, [{"receiver": "eda"}]),
        str(tmp_path / "state"),
        lambda: AGENT_URL,
    )
    try:
        dispatcher.submit([alert(1)])
        event = eda_source.next_event()
        deadline = time.monotonic() + 15
        while metric(dispatcher, "aiops_agent_notifications_sent_total") < 1:
            assert time.monotonic() < deadline, "the agent did not see its request accepted"
            time.sleep(0.05)
    finally:
        dispatcher.close(5)
    sent = as_received(event["payload"], alert(1))
    assert event["payload"] == webhook.payload(sent, CONTEXT._replace(receiver="eda"))
    assert sent.labels == {"alertname": "HighLoad", "host": "web-1"}  # the default group_by
    assert event["meta"]["hosts"] == ["web-1"]
    assert event["meta"]["endpoint"] == "aiops"
    assert event["meta"]["headers"]["Idempotency-Key"] == sent.idempotency_key()


def test_eda_source_refuses_other_signatures(eda_source: EdaSource) -> None:
    def body(n: int) -> bytes:
        labels = {"alertname": "HighLoad", "host": "web-1"}
        return json.dumps(webhook.payload(Notification((alert(n),), "g", labels), CONTEXT)).encode()

    def hub(secret: str, n: int) -> dict[str, str]:
        digest = hmac.new(secret.encode(), body(n), hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}"}

    attempts = {
        "unsigned": (1, {}),
        "forged": (2, hub("not-the-secret", 2)),
        "agent default format": (
            3,
            signature_headers(WebhookSignature(), SECRET.encode(), body(3)),
        ),
        "good": (4, hub(SECRET, 4)),
    }
    answers = {
        name: requests.post(
            eda_source.url,
            data=body(n),
            headers={"Content-Type": "application/json", **headers},
            timeout=10,
        )
        for name, (n, headers) in attempts.items()
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {"unsigned": 400, "forged": 401, "agent default format": 400, "good": 200}
    assert "Signature header not found" in answers["unsigned"].text
    assert "HMAC verification failed" in answers["forged"].text
    # Only the good request became an event: the first one out is alert 4.
    assert eda_source.next_event()["payload"]["alerts"][0]["labels"]["n"] == "4"


def test_the_rulebook_is_valid_for_ansible_rulebook() -> None:
    """The collection's rulebook against ansible-rulebook's own schema and condition parser (a
    typo there would only show when the service starts)."""
    script = (
        "import os, sys, yaml\n"
        "from ansible_rulebook.conf import settings\n"
        "settings.ansible_galaxy_path = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')\n"
        "from ansible_rulebook import rules_parser\n"
        "from ansible_rulebook.validators import Validate\n"
        "data = yaml.safe_load(open(sys.argv[1]))\n"
        "Validate.rulebook(data)\n"
        "variables = {'aiops_remediation_hosts': ['h'], 'aiops_remediation_alertnames': ['A']}\n"
        "(ruleset,) = rules_parser.parse_rule_sets(data, variables)\n"
        "print('\\n'.join(rule.name for rule in ruleset.rules))\n"
    )
    result = subprocess.run(
        [
            str(eda_venv() / "bin" / "python"),
            "-c",
            script,
            str(ROOT / "extensions" / "eda" / "rulebooks" / "remediation.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.split("\n")[:3] == [
        "Ignore an alert without a host",
        "Ignore a host outside the inventory",
        "Remediate an allowed alert",
    ]
