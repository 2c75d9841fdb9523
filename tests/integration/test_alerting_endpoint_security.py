"""Security of the alerting endpoints and of the receivers' secrets:

* with basic auth on (http.web_config_file with basic_auth_users), GET /api/v1/alerts and the
  silence admin endpoints (POST and DELETE /api/v1/silences) answer 401 without or with wrong
  credentials, and an unauthenticated POST creates nothing; with credentials they work;
* the agent listens on loopback unless told otherwise (the root-only test in
  test_endpoint_security.py checks the socket in a network namespace of its own);
* no receiver secret (an Alertmanager basic-auth header from ${ENV}, a webhook HMAC secret from
  file:, a webhook URL with a token, a PagerDuty routing key, a Slack URL with a token) appears in
  /metrics, /api/v1/alerts, /api/v1/silences, the agent's logs at debug level while deliveries to
  those receivers fail (closed loopback ports, and a receiver that answers with an error page
  echoing the request back), or check-config's errors for broken configs holding them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import bcrypt
import pytest
import yaml

from tests.helpers.agentproc import running_agent
from tests.helpers.cli import check_config_of
from tests.helpers.ports import reserve
from tests.helpers.receivers import Behaviour, recording
from tests.helpers.silenceapi import basic, call_raw
from tests.promtext import parse as parse_metrics

pytestmark = pytest.mark.integration

USER, PASSWORD = "admin", "silence-pw-71c2e9a4-do-not-leak"
AM_PASSWORD = "am-pw-0e5b93c1-do-not-leak"
AM_BASIC = basic("aiops", AM_PASSWORD)["Authorization"]
HMAC_SECRET = "hmac-file-4d8a2f60-do-not-leak"
URL_TOKEN = "HOOKTOKEN-93ab17e2"
ROUTING_KEY = "pdkey-5f0e6c28d41b4e9a9c7d2b1a0f3e8d77"
SLACK_TOKEN = "SLACKTOKEN-c6d1f09b"
ENV = {"AM_AUTH": AM_BASIC, "SLACK_URL": ""}  # SLACK_URL set per test (it holds a port)
WAIT = 30.0


def secrets() -> list[str]:
    return [PASSWORD, AM_PASSWORD, AM_BASIC.split()[1], HMAC_SECRET, URL_TOKEN, ROUTING_KEY,
            SLACK_TOKEN]  # fmt: skip


def leaks(text: str) -> list[str]:
    return [secret for secret in secrets() if secret in text]


def receivers(closed: int, echo: int, hmac_file: Path) -> dict[str, Any]:
    return {
        "am": {
            "alertmanager": {
                "url": f"http://127.0.0.1:{closed}",
                "headers": {"Authorization": "${AM_AUTH}"},
                "resend_interval": "1s",
            }
        },
        "hook": {
            "webhook": {
                "url": f"http://127.0.0.1:{closed}/hook/{URL_TOKEN}",
                "hmac_secret": f"file:{hmac_file}",
            }
        },
        "echo": {
            "webhook": {
                "url": f"http://127.0.0.1:{echo}/hook/{URL_TOKEN}",
                "hmac_secret": f"file:{hmac_file}",
                "headers": {"Authorization": "${AM_AUTH}"},
            }
        },
        "pd": {
            "pagerduty": {
                "routing_key": ROUTING_KEY,
                "url": f"http://127.0.0.1:{closed}/v2/enqueue",
            }
        },
        "chat": {"slack": {"url": "${SLACK_URL}"}},
    }


def routes(names: list[str]) -> list[dict[str, Any]]:
    return [{"receiver": name, "continue": True} for name in names]


def creds(auth: Optional[tuple[str, str]]) -> dict[str, str]:
    return basic(*auth) if auth is not None else {}


def silence_body() -> dict[str, Any]:
    now = time.time()
    return {
        "matchers": [{"name": "alertname", "value": "AlwaysUp", "isRegex": False}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
        "createdBy": "test",
        "comment": "maintenance",
    }


def test_alerting_endpoints_need_credentials_and_secrets_do_not_leak(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}))
    hmac_file = tmp_path / "hmac-secret"
    hmac_file.write_text(HMAC_SECRET + "\n")
    hmac_file.chmod(0o600)
    held = reserve()  # bound, never listening: every delivery to it fails to connect
    closed = held.getsockname()[1]
    env = {**ENV, "SLACK_URL": f"http://127.0.0.1:{closed}/services/T0/B0/{SLACK_TOKEN}"}
    names = ["am", "hook", "echo", "pd", "chat"]
    # Answers every POST with 400 and an error page that repeats the request line and headers:
    # what a misconfigured proxy might do. The agent must not log that body.
    with held, recording() as echo:
        echo.default = Behaviour(400, echo=True)
        config = {
            "log": {"level": "debug"},
            "agent": {"hostname": "sec-host"},
            "http": {"web_config_file": str(web)},
            "collectors": {"filesystem": {"enabled": False}},
            "detection": {
                "rules": [
                    {
                        "name": "AlwaysUp",
                        "metric": "aiops_agent_host_uptime_seconds",
                        "warning": 0,
                        "summary": "up on {host}",
                    }
                ],
                "baselines": {"enabled": False},
            },
            "receivers": receivers(closed, echo.port, hmac_file),
            "routes": routes(names),
            "outbox": {"backoff_base": "50ms", "backoff_max": "300ms"},
        }
        with running_agent(config, env=env, auth=(USER, PASSWORD)) as agent:
            # Without credentials, or with wrong ones: 401, and nothing happens.
            for auth in (None, (USER, "wrong"), (USER, PASSWORD.upper()), ("nobody", PASSWORD)):
                assert (
                    call_raw(agent.url, "GET", "/api/v1/alerts", headers=creds(auth))[0] == 401
                ), auth
                assert (
                    call_raw(agent.url, "GET", "/api/v1/silences", headers=creds(auth))[0] == 401
                ), auth
                status, body = call_raw(
                    agent.url, "POST", "/api/v1/silences", silence_body(), creds(auth)
                )
                assert status == 401, (auth, status, body)
                assert not leaks(body.decode(errors="replace"))
                status, _ = call_raw(
                    agent.url, "DELETE", "/api/v1/silences?id=x", headers=creds(auth)
                )
                assert status == 401, auth
            status, body = call_raw(
                agent.url, "GET", "/api/v1/silences", headers=basic(USER, PASSWORD)
            )
            assert status == 200 and json.loads(body)["data"] == [], body

            # With credentials they work.
            status, body = call_raw(
                agent.url, "POST", "/api/v1/silences", silence_body(), basic(USER, PASSWORD)
            )
            assert status == 200, body
            silence_id = json.loads(body)["data"]["silenceId"]
            status, body = call_raw(
                agent.url,
                "DELETE",
                f"/api/v1/silences?id={silence_id}",
                headers=basic(USER, PASSWORD),
            )
            assert status == 200, body

            # Deliveries fail at every receiver for a while.
            deadline = time.monotonic() + WAIT
            failures: dict[str, float] = {}
            while time.monotonic() < deadline:
                page = parse_metrics(agent.metrics())
                family = page.get("aiops_agent_notifications_failures_total")
                failures = {}
                for labels, value in (family.by_labels() if family else {}).items():
                    receiver = dict(labels)["receiver"]
                    failures[receiver] = failures.get(receiver, 0.0) + value
                dead = page.get("aiops_agent_notifications_dead_letters_total")
                dead_echo = dead.by_labels().get((("receiver", "echo"),), 0) if dead else 0
                if all(failures.get(n, 0) >= 3 for n in names if n != "echo") and dead_echo:
                    break
                time.sleep(0.3)
            assert all(failures.get(n, 0) >= 3 for n in names if n != "echo"), failures
            assert echo.arrived >= 1, "the echoing receiver was never called"

            metrics_text = agent.metrics()
            status, alerts_body = call_raw(
                agent.url, "GET", "/api/v1/alerts", headers=basic(USER, PASSWORD)
            )
            assert status == 200 and b"AlwaysUp" in alerts_body
            silences_body = call_raw(
                agent.url, "GET", "/api/v1/silences", headers=basic(USER, PASSWORD)
            )[1]
            assert not leaks(metrics_text), "a secret is on /metrics"
            assert not leaks(alerts_body.decode()), "a secret is in /api/v1/alerts"
            assert not leaks(silences_body.decode()), "a secret is in /api/v1/silences"
        log = agent.stderr_text()
    assert "delivery failed" in log or "dead-lettered" in log, log[-2000:]
    assert "bad request" not in log, "the receiver's error page was logged"
    assert not leaks(log), f"secrets in the logs: {leaks(log)}"
    print(
        f"\nendpoint security: 16 unauthenticated/wrong-credential requests refused; "
        f"delivery failures per receiver {failures}; {len(log.splitlines())} log lines, "
        f"{len(secrets())} secrets, none leaked"
    )

    # check-config's errors for broken configs that hold the same secrets.
    def check(document: dict[str, Any], extra_env: Optional[dict[str, str]] = None) -> str:
        result = check_config_of(tmp_path, document, {**env, **(extra_env or {})})
        assert result.returncode == 2, (document, result.stdout, result.stderr)
        return result.stdout + result.stderr

    good = receivers(closed, 1, hmac_file)
    outputs = {
        "route to an unknown receiver": check(
            {"receivers": good, "routes": [{"receiver": "nope"}]}
        ),
        "bad interval beside the receivers": check(
            {"agent": {"interval": "never"}, "receivers": good}
        ),
        "Slack URL that is not http": check(
            {"receivers": {"chat": {"slack": {"url": "${SLACK_URL}"}}}},
            {"SLACK_URL": f"hooks.slack.invalid/services/{SLACK_TOKEN}"},
        ),
        "routing key on a Slack receiver": check(
            {"receivers": {"chat": {"slack": {"url": "${SLACK_URL}", "routing_key": ROUTING_KEY}}}}
        ),
        "two types in one receiver": check({"receivers": {"x": {**good["pd"], **good["am"]}}}),
        "Alertmanager URL from a secret file that is not a URL": check(
            {"receivers": {"am": {"alertmanager": {"url": f"file:{hmac_file}"}}}}
        ),
        "header value that is a list": check(
            {
                "receivers": {
                    "am": {
                        "alertmanager": {
                            "url": "http://127.0.0.1:1",
                            "headers": {"Authorization": [AM_BASIC]},
                        }
                    }
                }
            }
        ),
        "empty routing key and unknown key": check(
            {"receivers": {"pd": {"pagerduty": {"routing_key": "", "oops": ROUTING_KEY}}}}
        ),
    }
    for what, output in outputs.items():
        assert "Traceback" not in output, (what, output)
        assert not leaks(output), f"{what}: check-config printed {leaks(output)}:\n{output}"
