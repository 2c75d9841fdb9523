"""The generic webhook: a versioned JSON document per notification (docs/webhook-schema.json),
optionally signed with HMAC-SHA256 so the receiver can check who sent it and when."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from aiops_agent.base.events import AlertEvent
from aiops_agent.config.notify_schema import WebhookReceiver
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import format_time, json_value
from aiops_agent.notify.senders.transport import Events, JsonPostSender

SCHEMA_VERSION = "1"
SIGNATURE_HEADER = "X-Aiops-Signature"
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


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """sha256=HEX of HMAC-SHA256 over "TIMESTAMP.BODY": the timestamp is signed too, so a
    receiver that rejects old timestamps cannot be fed a replayed request."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def build(settings: WebhookReceiver, context: Context) -> Sender:
    def headers(events: Events, body: bytes) -> dict[str, str]:
        (event,) = events
        chosen = {name: value.reveal() for name, value in settings.headers.items()}
        chosen["Idempotency-Key"] = event.idempotency_key()
        if settings.hmac_secret:
            timestamp = str(int(time.time()))
            chosen[TIMESTAMP_HEADER] = timestamp
            chosen[SIGNATURE_HEADER] = signature(
                settings.hmac_secret.reveal().encode(), timestamp, body
            )
        return chosen

    return JsonPostSender(
        settings.url.reveal(), settings.timeout, lambda events: payload(events[0], context), headers
    )
