"""Every receiver type against a real server on loopback: the exact bytes each one receives
(webhook with HMAC, Slack, PagerDuty, Alertmanager v2, SMTP with STARTTLS and AUTH), and how
delivery copes with receivers that fail: 500, 429 with Retry-After, garbage, hangs, 4xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from aiops_agent.base.logs import JsonFormatter
from aiops_agent.config.schema import Config
from aiops_agent.notify import create_dispatcher
from aiops_agent.notify.dispatcher import Dispatcher
from aiops_agent.notify.grouping import Notification, single
from aiops_agent.notify.senders import pagerduty, slack, webhook
from tests.helpers.notify import (
    AGENT_URL,
    CONTEXT,
    HOST,
    alert,
    alerts_in,
    as_received,
    config_for,
    metric,
)
from tests.helpers.ports import reserve
from tests.helpers.receivers import Behaviour, Recorder
from tests.helpers.wait import eventually


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


def start(config: Config, tmp_path: Path) -> Dispatcher:
    return create_dispatcher(config, str(tmp_path / "state"), lambda: AGENT_URL)


# --- formats ---------------------------------------------------------------------------------
def test_webhook_exact_payload_hmac_and_headers(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "shared-secret")
    receivers = {
        "hook": {
            "webhook": {
                "url": f"{recorder.url}/alerts",
                "hmac_secret": "${HOOK_SECRET}",
                "headers": {"Authorization": "Bearer abc"},
            }
        }
    }
    dispatcher = start(config_for(tmp_path, receivers, [{"receiver": "hook"}]), tmp_path)
    try:
        dispatcher.submit([alert(1)])  # one evaluation fires it...
        dispatcher.submit([alert(1, "resolved")])  # ... a later one resolves it
        first, second = recorder.wait(2)
    finally:
        dispatcher.close(5)
    assert first.path == "/alerts"
    context = CONTEXT._replace(receiver="hook")
    fired = as_received(first.json(), alert(1))
    assert first.json() == webhook.payload(fired, context)
    assert fired.labels == {"alertname": "HighLoad", "host": "web-1"} and fired.sequence == 1
    resolved = as_received(second.json(), alert(1, "resolved"))
    assert second.json() == webhook.payload(resolved, context)
    assert resolved.group == fired.group and resolved.sequence == 2
    assert second.json()["status"] == "resolved"
    assert second.json()["alerts"][0]["ends_at"] == "2023-11-14T22:23:20.000Z"
    for received, sent in [(first, fired), (second, resolved)]:
        headers = received.headers
        assert headers["content-type"] == "application/json"
        assert headers["authorization"] == "Bearer abc"
        assert (
            headers["idempotency-key"] == sent.idempotency_key() == f"{fired.group}-{sent.sequence}"
        )
        assert headers["user-agent"].startswith("aiops-agent/")
        timestamp = headers["x-aiops-timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        mac = hmac.new(b"shared-secret", timestamp.encode() + b"." + received.body, hashlib.sha256)
        assert headers["x-aiops-signature"] == "sha256=" + mac.hexdigest()


def test_slack(tmp_path: Path, recorder: Recorder) -> None:
    receivers = {"chat": {"slack": {"url": f"{recorder.url}/services/T0/B0/XYZ"}}}
    config = config_for(tmp_path, receivers, [{"receiver": "chat"}])
    dispatcher = start(config, tmp_path)
    try:
        dispatcher.submit([alert(1, severity="warning")])
        dispatcher.submit([alert(1, "resolved", severity="warning")])
        fired, resolved = recorder.wait(2)
    finally:
        dispatcher.close(5)
    settings = config.receivers["chat"].slack
    assert settings is not None
    assert fired.path == "/services/T0/B0/XYZ"
    context = CONTEXT._replace(receiver="chat")
    assert fired.json() == slack.payload(single(alert(1, severity="warning")), settings, context)
    assert fired.json()["attachments"][0]["color"] == slack.COLOURS["warning"]
    assert resolved.json() == slack.payload(
        single(alert(1, "resolved", severity="warning")), settings, context
    )
    assert resolved.json()["attachments"][0]["color"] == slack.RESOLVED_COLOUR


def test_pagerduty_trigger_then_resolve(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_KEY", "R0UT1NGKEY")
    receivers = {
        "pd": {"pagerduty": {"routing_key": "${PD_KEY}", "url": f"{recorder.url}/v2/enqueue"}}
    }
    config = config_for(tmp_path, receivers, [{"receiver": "pd", "severity": ["critical"]}])
    recorder.default = Behaviour(202)
    dispatcher = start(config, tmp_path)
    try:
        dispatcher.submit([alert(7)])
        dispatcher.submit([alert(7, "resolved")])
        trigger, resolve = recorder.wait(2)
    finally:
        dispatcher.close(5)
    settings = config.receivers["pd"].pagerduty
    assert settings is not None
    assert trigger.path == "/v2/enqueue"
    group = trigger.json()["dedup_key"]  # one incident per group: the group's id
    sent = Notification((alert(7),), group, {"alertname": "HighLoad", "host": "web-1"}, 1)
    assert trigger.json() == pagerduty.payload(sent, settings, CONTEXT)
    assert trigger.json()["routing_key"] == "R0UT1NGKEY"
    assert resolve.json() == {
        "routing_key": "R0UT1NGKEY",
        "dedup_key": group,
        "event_action": "resolve",
    }


def test_alertmanager_resends_while_firing_and_after_resolve(
    tmp_path: Path, recorder: Recorder
) -> None:
    receivers = {
        "am": {
            "alertmanager": {
                "url": recorder.url,
                "resend_interval": "1s",
                "resolve_resend_for": "2s",
                "external_url": "http://agent.example:9877",
            }
        }
    }
    config = config_for(tmp_path, receivers, [{"receiver": "am"}])
    dispatcher = start(config, tmp_path)
    try:
        sent_at = time.time()
        dispatcher.submit([alert(1), alert(2)])
        first = recorder.wait(1)[0]
        resends = recorder.wait(3)  # the first POST, then re-sends every second
        dispatcher.submit([alert(1, "resolved")])

        def resolve_resends_over() -> bool:
            """Alert 1 was re-sent resolved, and a later request holds only alert 2."""
            bodies = [r.json() for r in recorder.accepted()]
            resolved_at = [
                i
                for i, body in enumerate(bodies)
                if any(a["labels"]["n"] == "1" and a["endsAt"].startswith("2023") for a in body)
            ]
            only_2 = [
                i for i, body in enumerate(bodies) if [a["labels"]["n"] for a in body] == ["2"]
            ]
            return bool(resolved_at and only_2 and only_2[-1] > resolved_at[-1])

        assert eventually(resolve_resends_over), [r.json() for r in recorder.accepted()]
        after = list(recorder.accepted())
    finally:
        dispatcher.close(5)
    assert first.path == "/api/v2/alerts"
    body = first.json()
    assert [a["labels"]["n"] for a in body] == ["1", "2"]
    assert set(body[0]) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert body[0]["labels"] == alert(1).labels and body[0]["annotations"] == alert(1).annotations
    assert body[0]["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert body[0]["generatorURL"] == "http://agent.example:9877/api/v1/alerts?rule=high_load"
    ends = _parse_time(body[0]["endsAt"])
    assert sent_at + 3 <= ends <= time.time() + 4.5  # about 4 resend intervals ahead
    assert len(resends) >= 3 and all(len(r.json()) == 2 for r in resends[1:3])
    # After the resolve: alert 1 is re-sent with its real endsAt for ~2 s, then only alert 2.
    resolved_bodies = [
        a
        for r in after
        for a in r.json()
        if a["labels"]["n"] == "1" and a["endsAt"].startswith("2023")
    ]
    assert resolved_bodies and all(
        a["endsAt"] == "2023-11-14T22:23:20.000Z" for a in resolved_bodies
    )
    assert [a["labels"]["n"] for a in after[-1].json()] == ["2"]
    assert metric(dispatcher, "aiops_agent_notifications_resends_total", receiver="am") >= 4


def _parse_time(text: str) -> float:
    from aiops_agent.base.timefmt import parse_time

    return parse_time(text)


# --- SMTP ------------------------------------------------------------------------------------
class SmtpServer:
    """Just enough SMTP for one client: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def __init__(self, cert: Path, key: Path, user: str, password: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.tls_used: list[bool] = []
        self.rejections: list[str] = []  # replies to the next RCPTs, e.g. "451 try later"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                tls, authed, envelope = False, False, {"rcpt": []}  # type: dict[str, Any]
                self._say("220 localhost ESMTP test")
                while True:
                    line = self.rfile.readline().decode().rstrip("\r\n")
                    if not line:
                        return
                    verb = line.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        features = ["250-localhost", "250-AUTH PLAIN"]
                        features.append("250 STARTTLS" if not tls else "250 8BITMIME")
                        self._say("\r\n".join(features))
                    elif verb == "STARTTLS":
                        self._say("220 go ahead")
                        wrapped = context.wrap_socket(self.connection, server_side=True)
                        self.connection = wrapped
                        self.rfile = wrapped.makefile("rb")
                        self.wfile = wrapped.makefile("wb", buffering=0)
                        tls = True
                    elif verb == "AUTH":
                        raw = base64.b64decode(line.split()[2]).split(b"\0")
                        authed = raw[1:] == [user.encode(), password.encode()]
                        self._say("235 ok" if authed else "535 bad credentials")
                    elif verb == "MAIL":
                        if not authed:
                            self._say("530 auth first")
                            continue
                        envelope = {"from": line[10:], "rcpt": []}
                        self._say("250 ok")
                    elif verb == "RCPT":
                        if server.rejections:
                            self._say(server.rejections.pop(0))
                            continue
                        envelope["rcpt"].append(line[8:])
                        self._say("250 ok")
                    elif verb == "DATA":
                        self._say("354 end with .")
                        data = b""
                        while True:
                            chunk = self.rfile.readline()
                            if chunk in (b".\r\n", b""):
                                break
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        server.messages.append({**envelope, "data": data})
                        server.tls_used.append(tls)
                        self._say("250 queued")
                    elif verb == "QUIT":
                        self._say("221 bye")
                        return
                    else:
                        self._say("250 ok")

            def _say(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_email_over_starttls_with_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    smtp = SmtpServer(cert, key, "agent", "mail-password")
    monkeypatch.setenv("SMTP_PASSWORD", "mail-password")
    receivers = {
        "mail": {
            "email": {
                "smarthost": f"localhost:{smtp.port}",
                "from_address": "agent@example.org",
                "to": ["ops@example.org", "dba@example.org"],
                "username": "agent",
                "password": "${SMTP_PASSWORD}",
                "ca_file": str(cert),
                "timeout": "5s",
            }
        }
    }
    dispatcher = start(config_for(tmp_path, receivers, [{"receiver": "mail"}]), tmp_path)
    try:
        smtp.rejections = ["451 greylisted, try later"] * 2  # both recipients: retried
        dispatcher.submit([alert(3)])
        deadline = time.monotonic() + 15
        while not smtp.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        retries = metric(dispatcher, "aiops_agent_notifications_failures_total", kind="retry")
    finally:
        dispatcher.close(5)
        smtp.stop()
    (sent,) = smtp.messages
    assert smtp.tls_used == [True] and retries == 1
    assert sent["from"] == "<agent@example.org>"
    assert sent["rcpt"] == ["<ops@example.org>", "<dba@example.org>"]
    mail = message_from_bytes(sent["data"])
    assert mail["Subject"] == "[FIRING] HighLoad on web-1: load is high"
    key = f"{mail['X-Aiops-Group']}-1"  # the group's first notification
    assert mail["X-Aiops-Idempotency-Key"] == key
    assert mail["Message-ID"] == f"<{key}@{HOST}>"
    assert mail["X-Aiops-Fingerprint"] == alert(3).fingerprint
    assert "load1 above 4" in mail.get_payload()


# --- failing receivers -----------------------------------------------------------------------
def one_webhook(tmp_path: Path, url: str, **extra: Any) -> Dispatcher:
    receivers = {"hook": {"webhook": {"url": url, **extra}}}
    return start(config_for(tmp_path, receivers, [{"receiver": "hook"}]), tmp_path)


def test_500_then_garbage_then_success_is_retried(tmp_path: Path, recorder: Recorder) -> None:
    recorder.plan = [Behaviour(500), Behaviour(garbage=True), Behaviour(503)]
    dispatcher = one_webhook(tmp_path, recorder.url)
    try:
        dispatcher.submit([alert(1)])
        recorder.wait(1)
        keys = {r.headers["idempotency-key"] for r in recorder.received}
        failures = metric(dispatcher, "aiops_agent_notifications_failures_total", kind="retry")
        attempts = metric(dispatcher, "aiops_agent_notifications_attempts_total")
        # The receiver recorded the request before the agent saw the answer: wait for it.
        depth = eventually(lambda: metric(dispatcher, "aiops_agent_outbox_queue_depth") == 0)
    finally:
        dispatcher.close(5)
    assert len(recorder.received) == 4 and keys == {recorder.received[0].json()["idempotency_key"]}
    assert failures == 3 and attempts == 4 and depth


def test_429_retry_after_is_obeyed(tmp_path: Path, recorder: Recorder) -> None:
    recorder.plan = [Behaviour(429, (("Retry-After", "2"),))]
    dispatcher = one_webhook(tmp_path, recorder.url)
    try:
        dispatcher.submit([alert(1)])
        recorder.wait(1)
        first, second = recorder.received[0], recorder.received[1]
    finally:
        dispatcher.close(5)
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.9  # the backoff alone would retry after ~50 ms


def test_hanging_receiver_times_out_and_keeps_its_notifications(tmp_path: Path) -> None:
    release = threading.Event()
    hanging = Recorder()
    hanging.default = Behaviour(hold=release)
    dispatcher = one_webhook(tmp_path, hanging.url, timeout="500ms")
    try:
        for n in range(5):
            dispatcher.submit([alert(n)])
        timed_out = eventually(
            lambda: (
                metric(dispatcher, "aiops_agent_notifications_failures_total", kind="retry") >= 1
            ),
            timeout=60,
        )
        depth = metric(dispatcher, "aiops_agent_outbox_queue_depth")
    finally:
        release.set()
        dispatcher.close(2)
        hanging.stop()
    assert timed_out and hanging.arrived >= 1
    assert depth == 5  # nothing delivered, nothing lost


def test_hanging_receiver_does_not_delay_others(tmp_path: Path, recorder: Recorder) -> None:
    """The slow receiver holds its first request until the test lets go, and its timeout is far
    longer than the test waits: the fast receiver can get its notifications only if it never
    waits for the slow one, and submit() can return only if it just writes the outbox."""
    release = threading.Event()
    slow = Recorder()
    slow.default = Behaviour(hold=release)
    receivers = {
        "slow": {"webhook": {"url": slow.url, "timeout": "5m"}},
        "fast": {"webhook": {"url": recorder.url}},
    }
    routes = [{"receiver": "slow", "continue": True}, {"receiver": "fast"}]
    dispatcher = start(config_for(tmp_path, receivers, routes), tmp_path)
    try:
        for n in range(5):
            dispatcher.submit([alert(n)])
        assert not slow.received  # submit() returned with the slow receiver still holding
        recorder.wait(5, timeout=60)
        assert slow.arrived >= 1 and not slow.received  # ... and it still holds
        slow_failures = metric(
            dispatcher, "aiops_agent_notifications_failures_total", receiver="slow"
        )
    finally:
        release.set()
        dispatcher.close(5)
        slow.stop()
    assert slow_failures == 0


def test_4xx_is_dead_lettered_not_retried(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.plan = [Behaviour(400)]
    dispatcher = one_webhook(tmp_path, recorder.url)
    try:
        with caplog.at_level(logging.ERROR, logger="aiops_agent.notify"):
            dispatcher.submit([alert(1)])
            dispatcher.submit([alert(2)])
            recorder.wait(1)  # alert 2, after the rejected alert 1
            assert eventually(
                lambda: metric(dispatcher, "aiops_agent_notifications_dead_letters_total") >= 1
            )
        dead = metric(dispatcher, "aiops_agent_notifications_dead_letters_total")
        kept = dispatcher.dead_letters("hook")
    finally:
        dispatcher.close(5)
    assert [r.status for r in recorder.received] == [400, 200]
    # The group's first notification (alert 1) was rejected; its next one (1 and 2) went through.
    rejected, accepted = (r.json() for r in recorder.received)
    assert alerts_in([rejected]) == [(alert(1).fingerprint, "firing")]
    assert alerts_in([accepted]) == [
        (alert(1).fingerprint, "firing"),
        (alert(2).fingerprint, "firing"),
    ]
    assert dead == 1 and [(k, reason) for k, _, reason in kept] == [
        (rejected["idempotency_key"], "HTTP 400")
    ]
    assert any("dead-lettered" in r.getMessage() for r in caplog.records)


def test_secrets_never_reach_the_log(
    tmp_path: Path,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "T0KEN-in-the-url-path"
    monkeypatch.setenv("SLACK_URL", f"{recorder.url}/services/{token}")
    monkeypatch.setenv("PD_KEY", f"routing-{token}")
    closed = reserve()  # bound, never listening: deliveries to it are refused
    dead_port = closed.getsockname()[1]
    receivers = {
        "chat": {"slack": {"url": "${SLACK_URL}"}},
        "down": {"webhook": {"url": f"http://127.0.0.1:{dead_port}/{token}"}},
        "pd": {"pagerduty": {"routing_key": "${PD_KEY}", "url": f"{recorder.url}/pd"}},
    }
    recorder.plan = [Behaviour(500), Behaviour(401), Behaviour(500), Behaviour(403)]
    routes = [
        {"receiver": "chat", "continue": True},
        {"receiver": "down", "continue": True},
        {"receiver": "pd"},
    ]
    config = config_for(tmp_path, receivers, routes)
    with caplog.at_level(logging.DEBUG):
        dispatcher = start(config, tmp_path)
        try:
            dispatcher.submit([alert(1)])
            recorder.wait(4, accepted_only=False)
            logged = ("delivery failed", "dead-lettered")  # the refused and the rejected ones
            assert eventually(
                lambda: all(any(w in r.getMessage() for r in caplog.records) for w in logged)
            )
        finally:
            dispatcher.close(2)
            closed.close()
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "delivery failed" in text and "dead-lettered" in text
    assert token not in text
    assert token not in repr(config)


def test_reconfigure_swaps_receivers(tmp_path: Path, recorder: Recorder) -> None:
    other = Recorder()
    config = config_for(
        tmp_path, {"hook": {"webhook": {"url": recorder.url}}}, [{"receiver": "hook"}]
    )
    dispatcher = start(config, tmp_path)
    try:
        dispatcher.submit([alert(1)])
        recorder.wait(1)
        dispatcher.reconfigure(
            config_for(tmp_path, {"hook": {"webhook": {"url": other.url}}}, [{"receiver": "hook"}])
        )
        dispatcher.submit([alert(2)])
        other.wait(1)
        dispatcher.reconfigure(config_for(tmp_path, {}, []))  # everything to the log now
        dispatcher.submit([alert(3)])
        log_sent = metric(dispatcher, "aiops_agent_notifications_sent_total", receiver="log")
    finally:
        dispatcher.close(5)
        other.stop()
    assert len(recorder.received) == 1 and len(other.received) == 1
    assert log_sent == 1
