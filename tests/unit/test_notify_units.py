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
    GroupingSection,
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
from aiops_agent.notify.grouping import DEFAULT_ROUTE, Grouping, Notification, single
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
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "webhook-schema.json"
GROUP = "00112233aabbccdd-1700000000000"


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


def group(*events: AlertEvent, sequence: int = 1) -> Notification:
    return Notification(events, GROUP, {"alertname": "HighLoad", "host": "web-1"}, sequence)


def names(router: Router, labels: dict[str, str]) -> list[str]:
    return [name for name, _ in router.route(labels)]


# --- routing ---------------------------------------------------------------------------------
def test_first_match_wins_unless_continue() -> None:
    router = Router(
        [
            Route("pager", severity=["critical"], continue_=True),
            Route("ops", matchers=[parse_matcher('team="ops"')]),
            Route("rest", matchers=[parse_matcher('team=~".+"')]),
        ]
    )
    assert names(router, {"severity": "critical", "team": "ops"}) == ["pager", "ops"]
    assert names(router, {"severity": "warning", "team": "ops"}) == ["ops"]
    assert names(router, {"severity": "warning", "team": "db"}) == ["rest"]
    assert names(router, {"severity": "critical"}) == ["pager"]  # matched: no default
    assert names(router, {"severity": "info"}) == ["log"]  # nothing matched: the default


def test_negative_matchers_and_duplicates() -> None:
    router = Router(
        [Route("a", matchers=[parse_matcher('env!~"dev|test"')], continue_=True), Route("a")]
    )
    assert names(router, {"env": "prod"}) == ["a"]
    assert names(router, {"env": "dev"}) == ["a"]
    assert names(Router([]), {}) == ["log"]


def test_routes_override_the_grouping_defaults() -> None:
    defaults = GroupingSection(group_by=["host"], group_wait=Duration(30.0))
    router = Router(
        [
            Route("pager", severity=["critical"], group_wait=Duration(0.0), continue_=True),
            Route("chat", group_by=["..."], group_interval=Duration(60.0)),
        ],
        defaults,
        repeat_interval=3600.0,
    )
    (pager, pager_grouping), (chat, chat_grouping) = router.route({"severity": "critical"})
    assert (pager, pager_grouping) == ("pager", Grouping(0, ("host",), 0.0, 0.0, 3600.0))
    assert (chat, chat_grouping) == ("chat", Grouping(1, ("...",), 30.0, 60.0, 3600.0))
    ((log, fallback),) = Router([], defaults, 60.0).route({})
    assert (log, fallback) == ("log", Grouping(DEFAULT_ROUTE, ("host",), 30.0, 0.0, 60.0))


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
    other = dataclasses.replace(event(), fingerprint="fedcba9876543210", value=5.0)
    notification = group(fired, other, sequence=3)
    assert webhook.payload(notification, CONTEXT) == {
        "version": "2",
        "idempotency_key": f"{GROUP}-3",
        "receiver": "rcv",
        "status": "firing",
        "group": {
            "key": GROUP,
            "labels": {"alertname": "HighLoad", "host": "web-1"},
            "sequence": 3,
        },
        "alerts": [
            {
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
            webhook.alert_document(other),
        ],
        "processes": [],
        "agent": {"host": "testhost", "url": "http://127.0.0.1:9877", "version": "0.1.0"},
    }
    assert webhook.alert_document(other)["value"] == 5.0
    assert webhook.payload(group(event("resolved")), CONTEXT)["status"] == "resolved"
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
    document = webhook.payload(group(event("resolved")), CONTEXT)
    assert set(schema["required"]) == set(document)
    assert schema["properties"]["version"]["const"] == webhook.SCHEMA_VERSION == "2"
    assert set(schema["properties"]["group"]["required"]) == set(document["group"])
    alert_schema = schema["properties"]["alerts"]["items"]
    assert set(alert_schema["required"]) == set(document["alerts"][0])
    with_context = webhook.payload(group(hog_event(), event(alertname="Other")), CONTEXT)
    process_schema = schema["$defs"]["process"]
    assert set(process_schema["required"]) == set(with_context["processes"][0])
    for checked in (document, with_context):
        jsonschema.validate(checked, schema)


HOG = ProcessSummary(4242, "stress", "alice", "stress --cpu 2", 1.97, 1 << 20, 0, 0.0, 0.0, 4, 0,
                     False)  # fmt: skip
EATER = ProcessSummary(77, "eater", "bob", "eater", 0.0, 900 << 20, 0, 0.0, 0.0, 4, 0, False)


def hog_event(**labels: str) -> AlertEvent:
    return dataclasses.replace(event(**labels), context="cpu", processes=(HOG,))


def test_the_process_context_in_every_payload() -> None:
    cpu = hog_event()
    memory = dataclasses.replace(event(alertname="Mem"), context="memory", processes=(EATER, HOG))
    both = group(cpu, memory)
    document = webhook.payload(both, CONTEXT)
    assert [(a["context"], [p["pid"] for p in a["processes"]]) for a in document["alerts"]] == [
        ("cpu", [4242]),
        ("memory", [77, 4242]),
    ]
    assert [p["pid"] for p in document["processes"]] == [4242, 77]  # the union, each PID once
    settings = PagerDutyReceiver(routing_key=Secret("rk"))
    details = pagerduty.payload(both, settings, CONTEXT)["payload"]["custom_details"]
    assert [p["pid"] for p in details["top_processes"]] == [4242, 77]
    assert details["alerts"][0]["processes"] == [HOG.as_json()]
    message = slack.payload(group(cpu), SlackReceiver(url=Secret("http://x")), CONTEXT)
    fields = message["attachments"][0]["fields"]
    (top,) = [f for f in fields if f["title"].startswith("Top")]
    assert top["value"] == "pid 4242 stress (alice): 1.97 CPU cores: stress --cpu 2"
    settings_mail = EmailReceiver(smarthost="h:25", from_address="x@y", to=["a@b"])
    mail = email.message(group(cpu), settings_mail, CONTEXT)
    assert "Top processes (cpu):\n  pid 4242 stress (alice): 1.97 CPU cores" in mail.get_content()


def test_an_outbox_row_keeps_the_context_and_an_older_row_still_reads() -> None:
    fired = hog_event()
    assert decode(encode(fired)) == fired
    older = json.loads(encode(event()))
    del older["context"], older["processes"]  # written before the process context existed
    assert decode(json.dumps(older)) == event()


def test_slack_payload() -> None:
    settings = SlackReceiver(url=Secret("http://x"), channel="#ops")
    document = slack.payload(group(event()), settings, CONTEXT)
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
    resolved = slack.payload(group(event("resolved")), settings, CONTEXT)
    assert resolved["text"].startswith("[RESOLVED] HighLoad on web-1")
    assert resolved["attachments"][0]["color"] == slack.RESOLVED_COLOUR
    assert resolved["attachments"][0]["ts"] == 1700000600
    assert (
        slack.payload(group(event(severity="warning")), settings, CONTEXT)["attachments"][0][
            "color"
        ]
        == slack.COLOURS["warning"]
    )


def test_slack_lists_a_group_in_one_message() -> None:
    settings = SlackReceiver(url=Secret("http://x"))
    load = event()
    cpu = dataclasses.replace(
        event(), fingerprint="1" * 16, labels={**load.labels, "alertname": "HighCPU"}
    )
    gone = dataclasses.replace(event("resolved"), fingerprint="2" * 16)
    document = slack.payload(group(load, cpu, gone), settings, CONTEXT)
    assert document["text"] == "[FIRING:2] HighLoad, HighCPU on web-1 (1 resolved)"
    assert [a["title"] for a in document["attachments"]] == [
        "Firing: HighLoad",
        "Firing: HighCPU",
        "Resolved: HighLoad",
    ]
    many = [dataclasses.replace(load, fingerprint=f"{i:016x}") for i in range(25)]
    attachments = slack.payload(group(*many), settings, CONTEXT)["attachments"]
    assert len(attachments) == slack.MAX_ATTACHMENTS + 1
    assert attachments[-1]["text"] == "and 5 more alerts"


def test_pagerduty_one_incident_per_group() -> None:
    settings = PagerDutyReceiver(routing_key=Secret("R0UT1NG"))
    fired = event(instance="web-1:9100", severity="warning")
    worse = dataclasses.replace(event(), fingerprint="1" * 16, starts_at=1700000060.0)
    assert pagerduty.payload(group(fired, worse), settings, CONTEXT) == {
        "routing_key": "R0UT1NG",
        "dedup_key": GROUP,
        "event_action": "trigger",
        "client": "aiops-agent",
        "client_url": "http://127.0.0.1:9877",
        "payload": {
            "summary": "[FIRING:2] HighLoad on web-1",
            "source": "web-1",
            "severity": "critical",  # the worst of the group
            "timestamp": "2023-11-14T22:13:20.000Z",
            "class": "HighLoad",
            "component": "web-1:9100",
            "custom_details": {
                "group": {"alertname": "HighLoad", "host": "web-1"},
                "alerts": [pagerduty.alert_details(fired), pagerduty.alert_details(worse)],
                "idempotency_key": f"{GROUP}-1",
            },
        },
    }
    assert pagerduty.alert_details(fired) == {
        "status": "firing",
        "labels": fired.labels,
        "annotations": fired.annotations,
        "value": 4.5,
        "starts_at": "2023-11-14T22:13:20.000Z",
    }
    one = pagerduty.payload(group(event()), settings, CONTEXT)["payload"]
    assert one["summary"] == "[FIRING] HighLoad on web-1: load is high"
    partly = pagerduty.payload(group(event("resolved"), worse), settings, CONTEXT)
    assert partly["event_action"] == "trigger"  # the incident goes on while one alert fires
    assert pagerduty.payload(group(event("resolved")), settings, CONTEXT) == {
        "routing_key": "R0UT1NG",
        "dedup_key": GROUP,
        "event_action": "resolve",
    }
    alone = pagerduty.payload(single(event("resolved")), settings, CONTEXT)
    assert alone["dedup_key"] == "0123456789abcdef"  # an ungrouped alert: its fingerprint
    odd = pagerduty.payload(group(event(severity="page")), settings, CONTEXT)
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
    mail = email.message(group(event()), settings, CONTEXT)
    assert mail["Subject"] == "[FIRING] HighLoad on web-1: load is high"
    assert mail["To"] == "a@x, b@x"
    assert mail[email.IDEMPOTENCY_HEADER] == f"{GROUP}-1"
    assert mail["Message-ID"] == f"<{GROUP}-1@testhost>"
    assert mail["X-Aiops-Group"] == GROUP
    body = mail.get_content()
    assert "load1 above 4 for 5m" in body and "severity = critical" in body
    other = dataclasses.replace(event(), fingerprint="1" * 16, labels={"alertname": "HighCPU"})
    both = email.message(group(event(), other), settings, CONTEXT)
    assert both["Subject"] == "[FIRING:2] HighLoad, HighCPU on web-1"
    assert both["X-Aiops-Fingerprint"] == "0123456789abcdef, 1111111111111111"
    text = both.get_content()
    assert "[FIRING] HighLoad on web-1: load is high" in text and "alertname = HighCPU" in text


# --- what a sender's exception says ------------------------------------------------------------
class RaisingSender(Sender):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def send(self, notifications: Sequence[Notification]) -> Outcome:
        raise self.error


def reason_for(error: Exception, secrets: tuple[str, ...] = ()) -> str:
    sender = RaisingSender(error)
    sender.secrets = secrets
    outcome = deliver_once(sender, [single(event())])
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
