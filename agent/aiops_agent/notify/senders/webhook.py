"""The generic webhook: a versioned JSON document per notification (docs/webhook-schema.json),
optionally signed with an HMAC so the receiver can check who sent it (and, with the default
signature, when). The signature's header, digest and input are configurable, so receivers such as
Event-Driven Ansible's webhook source verify it without an adapter."""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Sequence
from typing import Any

from aiops_agent.alerting.events import AlertEvent
from aiops_agent.config.notify_schema import WebhookReceiver, WebhookSignature
from aiops_agent.notify.outcome import Outcome
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import format_time, json_value
from aiops_agent.notify.senders.transport import HttpPoster, dumps

SCHEMA_VERSION = "1"
TIMESTAMP_HEADER = "X-Aiops-Timestamp"


def payload(event: AlertEvent, context: Context) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "idempotency_key": event.idempotency_key(),
        "receiver": context.receiver,
        "status": event.status,
        "alert": {
            "fingerprint": event.fingerprint,
            "status": event.status,
            "labels": event.labels,
            "annotations": event.annotations,
            "starts_at": format_time(event.starts_at),
            "ends_at": None if event.ends_at is None else format_time(event.ends_at),
            "value": json_value(event.value),
            "generator": event.generator,
            "sequence": event.sequence,
        },
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


class WebhookSender(Sender):
    def __init__(self, settings: WebhookReceiver, context: Context) -> None:
        self._settings = settings
        self._context = context
        self._http = HttpPoster(settings.timeout)

    def send(self, events: Sequence[AlertEvent]) -> Outcome:
        (event,) = events
        body = dumps(payload(event, self._context))
        headers = {name: value.reveal() for name, value in self._settings.headers.items()}
        headers["Idempotency-Key"] = event.idempotency_key()
        if self._settings.hmac_secret:
            secret = self._settings.hmac_secret.reveal().encode()
            headers.update(signature_headers(self._settings.signature, secret, body))
        return self._http.post(self._settings.url.reveal(), body, headers)

    def close(self) -> None:
        self._http.close()
