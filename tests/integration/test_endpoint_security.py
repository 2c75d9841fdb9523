"""Endpoint security: with basic auth on, every endpoint refuses requests without valid
credentials (401); the default listener is loopback only; and no secret — the basic-auth
password, ${ENV} secrets of receivers, a private key — shows up in /metrics, in the logs (at
debug level) or in check-config's errors."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import bcrypt
import pytest
import yaml

from aiops_agent.base.listen import ListenAddress
from aiops_agent.config import Config
from tests import promtext
from tests.helpers.agentproc import running_agent
from tests.helpers.certs import make_pki
from tests.helpers.cli import check_config_of
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

AGENT = [sys.executable, "-m", "aiops_agent"]
PASSWORD = "pw-3f9c1e77-do-not-leak"
SECRETS = {
    "HOOK_URL": "https://hooks.example.invalid/T0KEN-8d2e4b1a",
    "HOOK_HMAC": "hmac-5b7e0c93-do-not-leak",
    "HOOK_AUTH": "Bearer bearer-a41f66d2-do-not-leak",
    "SMTP_PASSWORD": "smtp-0c2d9e54-do-not-leak",
}
RECEIVERS = {
    "hook": {
        "webhook": {
            "url": "${HOOK_URL}",
            "hmac_secret": "${HOOK_HMAC}",
            "headers": {"Authorization": "${HOOK_AUTH}"},
        }
    },
    "mail": {
        "email": {
            "smarthost": "127.0.0.1:25",
            "from_address": "agent@example.invalid",
            "to": ["ops@example.invalid"],
            "username": "agent",
            "password": "${SMTP_PASSWORD}",
            "tls": "none",
        }
    },
}


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_default_listen_address_is_loopback() -> None:
    assert Config().http.listen.is_loopback, Config().http.listen
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    listen = yaml.safe_load(example.read_text(encoding="utf-8"))["http"]["listen"]
    assert ListenAddress.parse(listen).is_loopback, listen


def _listening(pid: int) -> list[str]:
    """Local addresses of the process' network namespace's listening TCP sockets, as hex."""
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                found.append(fields[1])
    return found


@pytest.mark.needs_root
def test_default_listener_binds_loopback_only(tmp_path: Path) -> None:
    """The agent with no http.listen, in a network namespace of its own (so the default port is
    free whatever else runs here): every listening socket there is on 127.0.0.1."""
    assert os.geteuid() == 0, "needs root for a network namespace (CI runs as root)"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"agent": {"state_dir": str(tmp_path / "state")}}))
    log = tmp_path / "stderr.log"
    script = 'ip link set lo up && exec "$@"'
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", script, "sh", *AGENT, "run",
             "--config", str(config), "--log-format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        started: Optional[dict[str, object]] = None
        while started is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            for line in log.read_text().splitlines():
                record = json.loads(line)
                if record.get("msg") == "agent started":
                    started = record
            time.sleep(0.1)
        assert started["listen"] == "127.0.0.1:9877", started
        sockets = _listening(process.pid)
        assert sockets == [f"0100007F:{9877:04X}"], sockets  # 127.0.0.1:9877, nothing else
        print(f"\ndefault listener: {started['listen']} (and no other listening socket)")
    finally:
        process.terminate()
        process.wait(15)


def test_secrets_stay_out_of_metrics_logs_and_errors(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
    config = {
        "log": {"level": "debug"},
        "http": {"web_config_file": str(web)},
        "receivers": RECEIVERS,
    }
    secrets = [PASSWORD, *SECRETS.values(), "T0KEN-8d2e4b1a"]
    with running_agent(config, env=SECRETS, auth=("prometheus", PASSWORD)) as agent:
        # Every endpoint needs credentials, but the health probes (http.health_without_auth).
        anonymous = agent.auth
        agent.auth = None
        for path in ("/metrics", "/", "/api/v1/alerts", "/api/v1/silences", "/nope"):
            status, body = agent.get(path)
            assert status == 401, (path, status)
            assert not leaks(body.decode(errors="replace"), secrets)
        for path in ("/healthz", "/readyz"):
            status, body = agent.get(path)
            assert status == 200, (path, status)
            assert not leaks(body.decode(errors="replace"), secrets)
        for wrong in ("", "wrong", PASSWORD.upper(), PASSWORD + " "):
            status, _ = agent.get("/metrics", headers=auth_header("prometheus", wrong))
            assert status == 401
        assert agent.get("/metrics", headers=auth_header("nobody", PASSWORD))[0] == 401
        agent.auth = anonymous
        page = agent.metrics()
        assert "node_load1" in page
        done = promtext.value(page, "aiops_agent_collections_total") or 0

        def after_two_more_collections() -> str | None:
            """The page once two more debug-level collection cycles are in the log."""
            now = agent.metrics()
            return (
                now
                if (promtext.value(now, "aiops_agent_collections_total") or 0) >= done + 2
                else None
            )

        page = wait_for(after_two_more_collections, "two more collections")
        assert not leaks(page, secrets), "a secret is exposed on /metrics"
        for path in ("/", "/healthz", "/readyz", "/nope"):
            assert not leaks(agent.get(path)[1].decode(errors="replace"), secrets), path
    assert not leaks(agent.stderr_text(), secrets), "a secret is in the logs"
    assert hashed not in agent.stderr_text()

    # check-config's errors, for mistakes next to and in secret-bearing keys.
    def check(document: dict[str, object], env: Optional[dict[str, str]] = None) -> str:
        result = check_config_of(tmp_path, document, {**SECRETS, **(env or {})})
        assert result.returncode == 2, result.stderr
        return result.stderr

    outputs = [
        # A mistake elsewhere, valid secrets resolved from the environment.
        check({"agent": {"interval": "never"}, "receivers": RECEIVERS}),
        # Secrets where URLs belong, as literals and through the environment.
        check({"receivers": {"hook": {"webhook": {"url": SECRETS["HOOK_HMAC"]}}}}),
        check({"receivers": {"hook": {"webhook": {"url": "${HOOK_AUTH}"}}}}),
        # A secret key given a list, a mapping and a number.
        check({"receivers": {"hook": {"webhook": {"url": [SECRETS["HOOK_URL"]]}}}}),
        check({"receivers": {"hook": {"webhook": {"url": {"x": SECRETS["HOOK_URL"]}}}}}),
        # An unknown key beside secrets.
        check({"receivers": {"mail": {"email": {**RECEIVERS["mail"]["email"], "pasword": "x"}}}}),
        # A secret through an AIOPS__ override, with a wrong value.
        check({}, {"AIOPS__RECEIVERS__HOOK__WEBHOOK__URL": SECRETS["HOOK_HMAC"]}),
    ]
    # The basic-auth password pasted where its hash belongs; a private key where the
    # certificate belongs.
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": PASSWORD}}))
    outputs.append(check({"http": {"web_config_file": str(web)}}))
    key_text = pki.server_key.read_text()
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(pki.server_key),
                    "key_file": str(pki.server_key),
                }
            }
        )
    )
    outputs.append(check({"http": {"web_config_file": str(web)}}))
    key_body = key_text.splitlines()[1]
    for output in outputs:
        assert "Traceback" not in output, output
        assert not leaks(output, [*secrets, key_body]), output
    print(
        f"\nsecrets checked in /metrics, debug logs and {len(outputs)} check-config errors: none leaked"
    )
