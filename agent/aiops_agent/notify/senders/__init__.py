"""Senders turn alert events into one receiver type's requests. Each type's module is imported only
when a receiver of that type is configured; HTTP ones import requests on their first delivery."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from typing import NamedTuple, Optional

from aiops_agent.alerting.events import AlertEvent
from aiops_agent.config.notify_schema import Receiver, ReceiverSettings
from aiops_agent.config.types import Secret
from aiops_agent.notify.outcome import Outcome


class Context(NamedTuple):
    receiver: str  # the receiver's name in the config
    hostname: str  # the agent's host, for senders that name the source
    agent_url: str  # http://HOST:PORT of the agent's listener, for links back
    version: str


class Sender:
    """One receiver's delivery. send() runs only in that receiver's delivery thread."""

    max_batch = 1  # events per request
    resend_interval: Optional[float] = None  # re-send active alerts this often (Alertmanager)
    resolve_resend_for = 0.0  # ...and resolved ones for this long
    secrets: tuple[str, ...] = ()  # values no error reason may show (set by build_sender)

    def send(self, events: Sequence[AlertEvent]) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


_MODULES = {
    "log": "aiops_agent.notify.senders.log:LogSender",
    "webhook": "aiops_agent.notify.senders.webhook:WebhookSender",
    "slack": "aiops_agent.notify.senders.slack:SlackSender",
    "pagerduty": "aiops_agent.notify.senders.pagerduty:PagerDutySender",
    "alertmanager": "aiops_agent.notify.senders.alertmanager:AlertmanagerSender",
    "email": "aiops_agent.notify.senders.email:EmailSender",
}


def build_sender(receiver: Receiver, context: Context) -> Sender:
    module_name, _, class_name = _MODULES[receiver.type].partition(":")
    factory = getattr(importlib.import_module(module_name), class_name)
    sender: Sender = factory(receiver.settings, context)
    sender.secrets = secret_values(receiver.settings)
    return sender


def secret_values(settings: ReceiverSettings) -> tuple[str, ...]:
    """The revealed values of a receiver's secrets (URLs with tokens, keys, header values)."""
    found = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        candidates = value.values() if isinstance(value, dict) else [value]
        found += [item.reveal() for item in candidates if isinstance(item, Secret) and item]
    return tuple(found)
