"""The generic webhook: a versioned JSON document per notification, i.e. per group of alerts
(docs/webhook-schema.json), optionally signed with an HMAC so the receiver can check who sent it
(and, with the default signature, when). The signature's header, digest and input are
configurable, so receivers such as Event-Driven Ansible's webhook source verify it without an
adapter."""

from __future__ import annotations

import base64
import hmac
import time
from typing import Any

from aiops_agent.base.events import AlertEvent
from aiops_agent.config.notify_schema import WebhookReceiver, WebhookSignature
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import format_time, json_value, shared_processes
from aiops_agent.notify.senders.transport import JsonPostSender, Notifications

# 2: a notification per group of alerts ("group", "alerts"), each alert with its process context
# ("context", "processes"), and the group's top processes ("processes").
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


def payload(notification: Notification, context: Context) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "idempotency_key": notification.idempotency_key(),
        "receiver": context.receiver,
        "status": notification.status,
        "group": {
            "key": notification.group,
            "labels": notification.labels,
            "sequence": notification.sequence,
        },
        "alerts": [alert_document(event) for event in notification.alerts],
        # The firing alerts' top processes, each PID once: what the incident has in common.
        "processes": [process.as_json() for process in shared_processes(notification)],
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
    def headers(notifications: Notifications, body: bytes) -> dict[str, str]:
        (notification,) = notifications
        chosen = {name: value.reveal() for name, value in settings.headers.items()}
        chosen["Idempotency-Key"] = notification.idempotency_key()
        if settings.hmac_secret:
            secret = settings.hmac_secret.reveal().encode()
            chosen.update(signature_headers(settings.signature, secret, body))
        return chosen

    sender = JsonPostSender(
        settings.url.reveal(),
        settings.timeout,
        lambda notifications: payload(notifications[0], context),
        headers,
    )
    sender.groups = True
    return sender
