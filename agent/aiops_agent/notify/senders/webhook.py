"""The generic webhook: a versioned JSON document per notification (docs/webhook-schema.json),
optionally signed with an HMAC so the receiver can check who sent it (and, with the default
signature, when). The signature's header, digest and input are configurable, so receivers such as
Event-Driven Ansible's webhook source verify it without an adapter."""

from __future__ import annotations

import base64
import hmac
import time
from typing import Any

from aiops_agent.base.events import AlertEvent
from aiops_agent.config.notify_schema import WebhookReceiver, WebhookSignature
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import format_time, json_value
from aiops_agent.notify.senders.transport import Events, JsonPostSender

# 2: the alert carries its process context ("context", "processes").
SCHEMA_VERSION = "2"
TIMESTAMP_HEADER = "X-Aiops-Timestamp"


def alert_document(event: AlertEvent) -> dict[str, Any]:
    """One alert of a notification, with every field it carries, its process context included."""
    return {
        "fingerprint": event.fingerprint,
        "status": event.status,
        "labels": event.labels,
        "annotations": event.annotations,
        "starts_at": format_time(event.starts_at),
        "ends_at": None if event.ends_at is None else format_time(event.ends_at),
        "value": json_value(event.value),
        "generator": event.generator,
        "sequence": event.sequence,
        "context": event.context,
        "processes": [process.as_json() for process in event.processes],
    }


def payload(event: AlertEvent, context: Context) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "idempotency_key": event.idempotency_key(),
        "receiver": context.receiver,
        "status": event.status,
        "alert": alert_document(event),
        "agent": {"host": context.hostname, "url": context.agent_url, "version": context.version},
    }


def sign(settings: WebhookSignature, secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: prefix + the encoded HMAC of the body, preceded by
    "TIMESTAMP." when include_timestamp is set (the default: a receiver that rejects old
    timestamps then cannot be fed a replayed request, since the timestamp is signed too)."""
    message = timestamp.encode() + b"." + body if settings.include_timestamp else body
    mac = hmac.new(secret, message, settings.algorithm)
    if settings.encoding == "base64":
        encoded = base64.b64encode(mac.digest()).decode("ascii")
    else:
        encoded = mac.hexdigest()
    return settings.prefix + encoded


def signature_headers(settings: WebhookSignature, secret: bytes, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    headers = {settings.header: sign(settings, secret, timestamp, body)}
    if settings.include_timestamp:
        headers[TIMESTAMP_HEADER] = timestamp
    return headers


def build(settings: WebhookReceiver, context: Context) -> Sender:
    def headers(events: Events, body: bytes) -> dict[str, str]:
        (event,) = events
        chosen = {name: value.reveal() for name, value in settings.headers.items()}
        chosen["Idempotency-Key"] = event.idempotency_key()
        if settings.hmac_secret:
            secret = settings.hmac_secret.reveal().encode()
            chosen.update(signature_headers(settings.signature, secret, body))
        return chosen

    return JsonPostSender(
        settings.url.reveal(), settings.timeout, lambda events: payload(events[0], context), headers
    )
