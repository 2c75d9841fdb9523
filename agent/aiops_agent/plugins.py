"""The seam between the core and what consumes its samples (detection, alerting). The core calls
plugins; it never imports them by name, so an agent configured without them pays nothing."""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Protocol

from aiops_agent.base.model import MetricFamily, Snapshot
from aiops_agent.config.schema import Config


class Request(NamedTuple):
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Response]


class Plugin(Protocol):
    """Called from the collection loop's thread, except routes' handlers, which run in HTTP worker
    threads and must guard their own state."""

    name: str

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """Called after each collection. Must be quick: slow work belongs in its own thread."""

    def metrics(self) -> list[MetricFamily]:
        """Families this plugin exposes on /metrics, read once per collection."""

    def routes(self) -> dict[str, Handler]:
        """HTTP paths this plugin serves, e.g. {"/api/v1/alerts": handler}."""

    def reconfigure(self, config: Config) -> None:
        """Apply a reloaded, already validated config."""

    def close(self, timeout: float) -> None:
        """Stop background work within `timeout` seconds, keeping what must survive a restart."""


PluginFactory = Callable[[Config, str], Optional[Plugin]]

# Filled by modules that provide plugins (see load_plugins); each gets (config, state_dir).
_FACTORIES: list[str] = [
    # "module:function" entries; imported only at start-up of `run`.
    "aiops_agent.alerting.plugin:create",
]


def load_plugins(config: Config, state_dir: str) -> list[Plugin]:
    import importlib  # noqa: PLC0415

    plugins: list[Plugin] = []
    for entry in _FACTORIES:
        module_name, _, function_name = entry.partition(":")
        factory: PluginFactory = getattr(importlib.import_module(module_name), function_name)
        plugin = factory(config, state_dir)
        if plugin is not None:
            plugins.append(plugin)
    return plugins
