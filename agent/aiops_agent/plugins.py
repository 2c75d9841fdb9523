"""The seam between the core and what consumes its samples (detection, alerting): the contract a
plugin implements and the HTTP request and response its routes handle. The runtime loads plugins
by name (pluginhost.py); the core never imports them, so an agent configured without them pays
nothing."""

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
    # Who sent it, as the HTTP server established it (never from a header the client chose):
    # a loopback peer whose request no proxy relayed, and whether it proved who it is (basic
    # auth or a verified client certificate). Only these make a write trusted (routes.py).
    local: bool = False
    authenticated: bool = False


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Response]
READ_METHODS = frozenset({"GET", "HEAD"})


class Route(NamedTuple):
    """A path's handler and the methods that only read. Every other method changes something,
    so a route added later is guarded without being named anywhere: routes.py refuses those
    methods to a caller from the network that did not authenticate."""

    handler: Handler
    read_methods: frozenset[str] = READ_METHODS


class Plugin(Protocol):
    """Called from the collection loop's thread, except routes' handlers, which run in HTTP worker
    threads and must guard their own state."""

    name: str

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """Called after each collection. Must be quick: slow work belongs in its own thread."""

    def metrics(self) -> list[MetricFamily]:
        """Families this plugin exposes on /metrics, read once per collection."""

    def routes(self) -> dict[str, Route]:
        """HTTP paths this plugin serves, e.g. {"/api/v1/alerts": Route(handler)}."""

    def reconfigure(self, config: Config) -> None:
        """Apply a reloaded, already validated config."""

    def close(self, timeout: float) -> None:
        """Stop background work within `timeout` seconds, keeping what must survive a restart."""


class AgentContext(NamedTuple):
    """What a plugin learns about the agent beside the config."""

    state_dir: str  # where to keep what must survive a restart; "" for nowhere
    # The agent's base URL as other hosts name it (scheme, host, bound port), for links back;
    # current after a reload.
    public_url: Callable[[], str]


# A plugin module's create(config, context): the plugin, or None when the config leaves it off.
PluginFactory = Callable[[Config, AgentContext], Optional[Plugin]]
