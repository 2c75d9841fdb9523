"""Senders turn alert events into one receiver type's requests: the contract every type's module
implements. Each type's module is imported only when a receiver of that type is configured (the
registry is in dispatcher.py); HTTP ones import requests on their first delivery."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple, Optional

from aiops_agent.config.notify_schema import ReceiverSettings
from aiops_agent.config.types import Secret
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.outcome import Outcome


class Context(NamedTuple):
    receiver: str  # the receiver's name in the config
    hostname: str  # the agent's host, for senders that name the source
    agent_url: str  # http://HOST:PORT of the agent's listener, for links back
    version: str


class Sender:
    """One receiver's delivery. send() runs only in that receiver's delivery thread."""

    max_batch = 1  # notifications per request
    groups = False  # True: alerts are grouped (grouping.py), each group sent as one notification
    resend_interval: Optional[float] = None  # re-send active alerts this often (Alertmanager)
    resolve_resend_for = 0.0  # ...and resolved ones for this long
    secrets: tuple[str, ...] = ()  # values no error reason may show (set when it is built)

    def send(self, notifications: Sequence[Notification]) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


def secret_values(settings: ReceiverSettings) -> tuple[str, ...]:
    """The revealed values of a receiver's secrets (URLs with tokens, keys, header values)."""
    found = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        candidates = value.values() if isinstance(value, dict) else [value]
        found += [item.reveal() for item in candidates if isinstance(item, Secret) and item]
    return tuple(found)
