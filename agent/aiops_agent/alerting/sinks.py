"""Where alert events go: the notify package's dispatcher (receivers, routes, durable outbox),
imported only when notifications are on; a log-only sink when that package is missing or fails to
start, so alerts are never silently dropped."""

from __future__ import annotations

import logging
from typing import Optional, Protocol

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.base.model import MetricFamily
from aiops_agent.config.schema import Config
from aiops_agent.plugins import AgentContext

log = logging.getLogger("aiops_agent.alerting")


class Sink(Protocol):
    def submit(self, events: list[AlertEvent]) -> None: ...

    def metrics(self) -> list[MetricFamily]: ...

    def reconfigure(self, config: Config) -> None: ...

    def close(self, timeout: float) -> None: ...

    # Optional: live(fingerprints: set[str]) -> None, called after each evaluation (after its
    # submit) with the alerts tracked (pending or firing); the dispatcher uses it to resolve alerts
    # it re-sends to Alertmanager that the evaluator no longer knows (e.g. after a restart).


class LogSink:
    """Logs each notification; the fallback when no dispatcher is available."""

    def submit(self, events: list[AlertEvent]) -> None:
        for event in events:
            log.warning(
                f"alert {event.status}",
                extra={
                    "alertname": event.labels.get("alertname", ""),
                    "severity": event.labels.get("severity", ""),
                    "fingerprint": event.fingerprint,
                    "summary": event.annotations.get("summary", ""),
                    "labels": ",".join(f"{k}={v}" for k, v in sorted(event.labels.items())),
                },
            )

    def metrics(self) -> list[MetricFamily]:
        return []

    def reconfigure(self, config: Config) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


# By name rather than a from-import: the notifier is optional and costs memory, and this way the
# alerting package neither fails to type-check nor to load without it.
NOTIFIER = LazyRegistry({"notify": "aiops_agent.notify:create_dispatcher"})


def create_sink(config: Config, context: AgentContext) -> Optional[Sink]:
    """None when notifications are off (alerting.enabled: false)."""
    if not config.alerting.enabled:
        return None
    try:
        factory = NOTIFIER.load("notify")
    except (ImportError, AttributeError) as error:
        log.warning(
            "notifications unavailable; alerts are only logged", extra={"error": str(error)}
        )
        return LogSink()
    try:
        dispatcher: Sink = factory(config, context.state_dir, context.public_url)
    except Exception as error:  # any start-up failure of the optional notifier
        log.error(
            "notifications failed to start; alerts are only logged",
            extra={"error": f"{type(error).__name__}: {error}"},
        )
        return LogSink()
    return dispatcher
