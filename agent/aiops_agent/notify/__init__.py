"""Notifications: routing alert events to receivers (log, webhook, Slack, PagerDuty, Alertmanager,
e-mail) and delivering them at least once through a durable outbox per receiver. See
docs/notifications.md. Imported only when alerting is enabled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from aiops_agent.config.schema import Config
    from aiops_agent.notify.dispatcher import Dispatcher


def create_dispatcher(config: Config, state_dir: str, public_url: Callable[[], str]) -> Dispatcher:
    """The sink the alerting side submits events to; also metrics(), reconfigure() and
    close(timeout). public_url() is the agent's base URL, for links back to it."""
    from aiops_agent.notify.dispatcher import Dispatcher  # noqa: PLC0415

    return Dispatcher(config, state_dir, public_url)
