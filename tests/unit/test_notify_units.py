"""Routing, HTTP outcome classification, Retry-After, backoff and the exact payload of every
receiver type, without a network."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Sequence
from email.utils import formatdate
from pathlib import Path

import jsonschema
import requests

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.matchers import parse_matcher
from aiops_agent.base.processes import ProcessSummary
from aiops_agent.config.notify_schema import (
    AlertmanagerReceiver,
    EmailReceiver,
    OutboxSection,
    PagerDutyReceiver,
    Receiver,
    Route,
    SlackReceiver,
    WebhookReceiver,
    WebhookSignature,
)
from aiops_agent.config.types import Duration, Secret
from aiops_agent.notify.dispatcher import build_sender
from aiops_agent.notify.outcome import DEAD, OK, RETRY, Outcome, from_status, parse_retry_after
from aiops_agent.notify.queue import decode, encode
from aiops_agent.notify.routing import Router
from aiops_agent.notify.senders import (
    Context,
    Sender,
    alertmanager,
    email,
    pagerduty,
    slack,
    webhook,
)
from aiops_agent.notify.worker import _send as deliver_once
from aiops_agent.notify.worker import backoff

CONTEXT = Context("rcv", "testhost", "http://127.0.0.1:9877", "0.1.0")
HOG = ProcessSummary(
    4242, "stress", "alice", "stress --cpu 2", 1.97, 1 << 20, 0, 0.0, 0.0, 4, 0, False
)
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "webhook-schema.json"


def event(status: str = "firing", severity: str = "critical", **labels: str) -> AlertEvent:
    return AlertEvent(
        fingerprint="0123456789abcdef",
        status=status,
        labels={"alertname": "HighLoad", "severity": severity, "host": "web-1", **labels},
        annotations={"summary": "load is high", "description": "load1 above 4 for 5m"},
        starts_at=1700000000.0,
        ends_at=1700000600.0 if status == "resolved" else None,
        value=4.5,
        generator="high_load",
        sequence=1 if status == "firing" else 2,
    )


# --- routing ---------------------------------------------------------------------------------
def test_first_match_wins_unless_continue() -> None:
    router = Router(
        [
            Route("pager", severity=["critical"], continue_=True),
            Route("ops", matchers=[parse_matcher('team="ops"')]),
            Route("rest", matchers=[parse_matcher('team=~".+"')]),
        ]
    )
    assert router.route({"severity": "critical", "team": "ops"}) == ["pager", "ops"]
    assert router.route({"severity": "warning", "team": "ops"}) == ["ops"]
    assert router.route({"severity": "warning", "team": "db"}) == ["rest"]
    assert router.route({"severity": "critical"}) == ["pager"]  # matched: no default
    assert router.route({"severity": "info"}) == ["log"]  # nothing matched: the default


def test_negative_matchers_and_duplicates() -> None:
    router = Router(
        [Route("a", matchers=[parse_matcher('env!~"dev|test"')], continue_=True), Route("a")]
    )
    assert router.route({"env": "prod"}) == ["a"]
    assert router.route({"env": "dev"}) == ["a"]
    assert Router([]).route({}) == ["log"]


# --- outcomes --------------------------------------------------------------------------------
def test_status_classes() -> None:
    assert from_status(200).kind == OK and from_status(202).kind == OK
    assert from_status(500).kind == RETRY and from_status(503, "7").retry_after == 7.0
    assert from_status(429, "120").kind == RETRY and from_status(429, "120").retry_after == 120
    assert from_status(408).kind == RETRY
    assert from_status(400).kind == DEAD and from_status(404).kind == DEAD
    assert from_status(401).reason == "HTTP 401"
    assert from_status(302).kind == DEAD  # redirects are not followed


def test_retry_after_date_and_garbage() -> None:
    now = 1700000000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == 30.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


def test_backoff_grows_is_capped_jittered_and_obeys_retry_after() -> None:
    settings = OutboxSection(backoff_base=Duration(1.0), backoff_max=Duration(60.0))
    for failures, ceiling in [(1, 1.0), (2, 2.0), (5, 16.0), (30, 60.0)]:
        delays = [backoff(settings, failures, None) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered
    assert backoff(settings, 1, 300.0) == 300.0
    assert backoff(settings, 1, 10**9) == settings.max_retry_after


# --- payloads --------------------------------------------------------------------------------
def test_webhook_payload_and_signature() -> None:
    fired = event()
    assert webhook.payload(fired, CONTEXT) == {
        "version": "2",
        "idempotency_key": fired.idempotency_key(),
        "receiver": "rcv",
        "status": "firing",
        "alert": {
            "fingerprint": "0123456789abcdef",
            "status": "firing",
            "labels": {"alertname": "HighLoad", "severity": "critical", "host": "web-1"},
            "annotations": {"summary": "load is high", "description": "load1 above 4 for 5m"},
            "starts_at": "2023-11-14T22:13:20.000Z",
            "ends_at": None,
            "value": 4.5,
            "generator": "high_load",
            "sequence": 1,
            "context": "",
            "processes": [],
        },
        "agent": {"host": "testhost", "url": "http://127.0.0.1:9877", "version": "0.1.0"},
    }
    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook.sign(WebhookSignature(), b"k", "1700000000", body) == f"sha256={expected}"


def test_webhook_signature_formats() -> None:
    body = '{"host":"wéb-1"}'.encode()
    # Event-Driven Ansible's webhook source: HMAC of the body alone, "sha256=" + hex.
    eda = WebhookSignature(header="X-Hub-Signature-256", include_timestamp=False)
    expected = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert webhook.sign(eda, b"k", "1700000000", body) == expected
    headers = webhook.signature_headers(eda, b"k", body)
    assert headers == {"X-Hub-Signature-256": expected}  # no unsigned timestamp sent
    base64_sha512 = WebhookSignature(algorithm="sha512", encoding="base64", prefix="")
    digest = hmac.new(b"k", b"1700000000." + body, hashlib.sha512).digest()
    assert (
        webhook.sign(base64_sha512, b"k", "1700000000", body) == base64.b64encode(digest).decode()
    )
    default = webhook.signature_headers(WebhookSignature(), b"k", body)
    timestamp = default["X-Aiops-Timestamp"]
    assert default["X-Aiops-Signature"] == webhook.sign(WebhookSignature(), b"k", timestamp, body)


def test_webhook_schema_file_describes_the_payload() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    document = webhook.payload(event("resolved"), CONTEXT)
    assert set(schema["required"]) == set(document)
    assert schema["properties"]["version"]["const"] == webhook.SCHEMA_VERSION == "2"
    alert_schema = schema["properties"]["alert"]
    assert set(alert_schema["required"]) == set(document["alert"])
    with_context = webhook.payload(hog_event(), CONTEXT)
    process_schema = alert_schema["properties"]["processes"]["items"]
    assert set(process_schema["required"]) == set(with_context["alert"]["processes"][0])
    for document in (webhook.payload(event(), CONTEXT), with_context):
        jsonschema.validate(document, schema)


def hog_event() -> AlertEvent:
    return dataclasses.replace(event(), context="cpu", processes=(HOG,))


def test_the_process_context_in_every_payload() -> None:
    fired = hog_event()
    alert = webhook.payload(fired, CONTEXT)["alert"]
    assert (alert["context"], alert["processes"]) == ("cpu", [HOG.as_json()])
    settings = PagerDutyReceiver(routing_key=Secret("rk"))
    details = pagerduty.payload(fired, settings, CONTEXT)["payload"]["custom_details"]
    assert (details["context"], details["top_processes"]) == ("cpu", [HOG.as_json()])
    fields = slack.payload(fired, SlackReceiver(url=Secret("http://x")), CONTEXT)
    (top,) = [f for f in fields["attachments"][0]["fields"] if f["title"].startswith("Top")]
    assert top["value"] == "pid 4242 stress (alice): 1.97 CPU cores: stress --cpu 2"
    mail = email.message(
        fired, EmailReceiver(smarthost="h:25", from_address="x@y", to=["a@b"]), CONTEXT
    )
    assert "Top processes (cpu):\n  pid 4242 stress (alice): 1.97 CPU cores" in mail.get_content()


def test_an_outbox_row_keeps_the_context_and_an_older_row_still_reads() -> None:
    fired = hog_event()
    assert decode(encode(fired)) == fired
    older = json.loads(encode(event()))
    del older["context"], older["processes"]  # written before the process context existed
    assert decode(json.dumps(older)) == event()


def test_slack_payload() -> None:
    settings = SlackReceiver(url=Secret("http://x"), channel="#ops")
    document = slack.payload(event(), settings, CONTEXT)
    assert document == {
        "text": "[FIRING] HighLoad on web-1: load is high",
        "channel": "#ops",
        "attachments": [
            {
                "color": "#d63232",
                "fallback": "[FIRING] HighLoad on web-1: load is high",
                "title": "Firing: HighLoad",
                "text": "load1 above 4 for 5m\nStarted 2023-11-14T22:13:20.000Z; value 4.5",
                "fields": [
                    {"title": "host", "value": "web-1", "short": True},
                    {"title": "severity", "value": "critical", "short": True},
                ],
                "footer": "aiops-agent on testhost",
                "ts": 1700000000,
            }
        ],
    }
    resolved = slack.payload(event("resolved"), settings, CONTEXT)
    assert resolved["text"].startswith("[RESOLVED] HighLoad on web-1")
    assert resolved["attachments"][0]["color"] == slack.RESOLVED_COLOUR
    assert resolved["attachments"][0]["ts"] == 1700000600
    assert (
        slack.payload(event(severity="warning"), settings, CONTEXT)["attachments"][0]["color"]
        == slack.COLOURS["warning"]
    )


def test_pagerduty_trigger_and_resolve() -> None:
    settings = PagerDutyReceiver(routing_key=Secret("R0UT1NG"))
    fired = event(instance="web-1:9100")
    assert pagerduty.payload(fired, settings, CONTEXT) == {
        "routing_key": "R0UT1NG",
        "dedup_key": "0123456789abcdef",
        "event_action": "trigger",
        "client": "aiops-agent",
        "client_url": "http://127.0.0.1:9877",
        "payload": {
            "summary": "[FIRING] HighLoad on web-1: load is high",
            "source": "web-1",
            "severity": "critical",
            "timestamp": "2023-11-14T22:13:20.000Z",
            "class": "HighLoad",
            "component": "web-1:9100",
            "custom_details": {
                "labels": fired.labels,
                "annotations": fired.annotations,
                "value": 4.5,
                "idempotency_key": fired.idempotency_key(),
            },
        },
    }
    assert pagerduty.payload(event("resolved"), settings, CONTEXT) == {
        "routing_key": "R0UT1NG",
        "dedup_key": "0123456789abcdef",
        "event_action": "resolve",
    }
    odd = pagerduty.payload(event(severity="page"), settings, CONTEXT)
    assert odd["payload"]["severity"] == "error"  # default_severity


def test_alertmanager_payload() -> None:
    settings = AlertmanagerReceiver(url=Secret("http://am"), resend_interval=Duration(60.0))
    now = 1700000100.0
    fired, resolved = event(), event("resolved")
    assert alertmanager.payload([fired, resolved], settings, CONTEXT, now) == [
        {
            "labels": fired.labels,
            "annotations": fired.annotations,
            "startsAt": "2023-11-14T22:13:20.000Z",
            "endsAt": "2023-11-14T22:19:00.000Z",  # now + 4 x 60 s
            "generatorURL": "http://127.0.0.1:9877/api/v1/alerts?rule=high_load",
        },
        {
            "labels": resolved.labels,
            "annotations": resolved.annotations,
            "startsAt": "2023-11-14T22:13:20.000Z",
            "endsAt": "2023-11-14T22:23:20.000Z",
            "generatorURL": "http://127.0.0.1:9877/api/v1/alerts?rule=high_load",
        },
    ]


def test_email_message() -> None:
    settings = EmailReceiver(smarthost="mail:25", from_address="agent@x", to=["a@x", "b@x"])
    mail = email.message(event(), settings, CONTEXT)
    assert mail["Subject"] == "[FIRING] HighLoad on web-1: load is high"
    assert mail["To"] == "a@x, b@x"
    assert mail[email.IDEMPOTENCY_HEADER] == event().idempotency_key()
    assert mail["Message-ID"] == f"<{event().idempotency_key()}@testhost>"
    body = mail.get_content()
    assert "load1 above 4 for 5m" in body and "severity = critical" in body


# --- what a sender's exception says ------------------------------------------------------------
class RaisingSender(Sender):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def send(self, events: Sequence[AlertEvent]) -> Outcome:
        raise self.error


def reason_for(error: Exception, secrets: tuple[str, ...] = ()) -> str:
    sender = RaisingSender(error)
    sender.secrets = secrets
    outcome = deliver_once(sender, [event()])
    assert outcome.kind == RETRY
    return outcome.reason


def test_a_missing_package_is_named() -> None:
    error = ModuleNotFoundError("No module named 'requests'", name="requests")
    assert reason_for(error) == "sender error (missing Python package 'requests')"


def test_an_http_library_error_is_reduced_to_its_class() -> None:
    url = "https://hooks.example.com/services/T000/B000/XXXXSECRET"
    error = requests.exceptions.ChunkedEncodingError(f"Connection broken for {url}")
    assert reason_for(error) == "sender error (ChunkedEncodingError)"


def test_other_errors_keep_their_message_without_urls_or_secrets() -> None:
    secret = "routing-key-1234"
    error = ValueError(
        f"bad payload for https://user:pw@events.example.com/v2?token=abc key {secret}\nline 2"
    )
    reason = reason_for(error, (secret, ""))
    assert reason == "sender error (ValueError: bad payload for <url> key <secret>)"
    assert len(reason_for(KeyError("x" * 1000))) < 250


def test_build_sender_collects_the_receivers_secrets() -> None:
    receiver = Receiver(
        webhook=WebhookReceiver(
            url=Secret("http://127.0.0.1:9/hook?token=t1"),
            hmac_secret=Secret("h1"),
            headers={"Authorization": Secret("Bearer b1"), "X-Empty": Secret("")},
        )
    )
    sender = build_sender(receiver, CONTEXT)
    assert sorted(sender.secrets) == sorted(["http://127.0.0.1:9/hook?token=t1", "h1", "Bearer b1"])
