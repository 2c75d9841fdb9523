"""The agent's own HTTP endpoints (/metrics, /healthz, /readyz and an index page) and the table
that sends each request to one of them or to a plugin's route. Handlers run in HTTP worker
threads; what they read from the loop is either immutable or behind MetricsPage's lock."""

from __future__ import annotations

import json
import threading
import zlib
from typing import Any, Callable, Optional

from aiops_agent import __version__
from aiops_agent.exposition import CONTENT_TYPE
from aiops_agent.plugins import Request, Response, Route

# A check's verdict and the JSON body that explains it.
Check = Callable[[], tuple[bool, dict[str, Any]]]
BUILTIN_PATHS = ("/metrics", "/healthz", "/readyz", "/")
INSECURE_WRITES_KEY = "http.insecure_unauthenticated_writes"


class MetricsPage:
    """The latest rendered /metrics page: replaced by the collection loop, read by scrapes. Its
    gzip is made once per page, however many scrapers fetch it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._body = b""
        self._gzip: Optional[bytes] = None

    def publish(self, body: bytes) -> None:
        with self._lock:
            self._body, self._gzip = body, None

    @property
    def body(self) -> bytes:
        with self._lock:
            return self._body

    def compress(self, body: bytes) -> bytes:
        """gzip for clients that ask (the HTTP server calls this for any large body)."""
        with self._lock:
            if body is self._body:
                if self._gzip is None:
                    self._gzip = _gzip(body)
                return self._gzip
        return _gzip(body)


class Endpoints:
    """Sends each request to its route. A method a route does not declare read-only is a write:
    served to a caller on loopback (this host, or `kubectl port-forward` into the pod) or one
    that authenticated (basic auth, a verified client certificate), and to anyone else only
    when insecure_writes() (http.insecure_unauthenticated_writes) says so; else 403."""

    def __init__(
        self,
        page: MetricsPage,
        health: Check,
        readiness: Check,
        insecure_writes: Callable[[], bool] = lambda: False,
    ) -> None:
        self._page = page
        self._health = health
        self._readiness = readiness
        self._insecure_writes = insecure_writes
        self._routes: dict[str, Route] = {}
        self.set_plugin_routes({})

    def set_plugin_routes(self, routes: dict[str, Route]) -> None:
        """The plugins' paths beside the built-in ones; replaced whole, so a request in flight
        sees the old table or the new one."""
        builtin = {
            "/metrics": Route(self._metrics),
            "/healthz": Route(self._healthz),
            "/readyz": Route(self._readyz),
            "/": Route(self._index),
        }
        self._routes = {**routes, **builtin}

    def dispatch(self, request: Request) -> Response:
        routes = self._routes
        route = routes.get(request.path)
        if route is None:
            return _json(404, {"error": "not found", "paths": sorted(routes)})
        if request.path in BUILTIN_PATHS and request.method not in ("GET", "HEAD"):
            return Response(
                405, b'{"error": "method not allowed"}\n', headers=(("Allow", "GET, HEAD"),)
            )
        if request.method not in route.read_methods and not (
            request.local or request.authenticated or self._insecure_writes()
        ):
            return _json(403, {"status": "error", "error": _write_refused(request)})
        return route.handler(request)

    def _metrics(self, request: Request) -> Response:
        return Response(200, self._page.body, CONTENT_TYPE)

    def _healthz(self, request: Request) -> Response:
        healthy, body = self._health()
        return _json(200 if healthy else 503, body)

    def _readyz(self, request: Request) -> Response:
        ready, body = self._readiness()
        return _json(200 if ready else 503, body)

    def _index(self, request: Request) -> Response:
        links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in sorted(self._routes) if p != "/")
        page = (
            "<html><head><title>aiops-agent</title></head><body>"
            f"<h1>aiops-agent {__version__}</h1><ul>{links}</ul></body></html>"
        )
        return Response(200, page.encode(), "text/html; charset=utf-8")


def _write_refused(request: Request) -> str:
    return (
        f"{request.method} {request.path} changes the agent's state and is refused to an "
        "unauthenticated caller from the network. Call it over loopback on this host (or "
        "through kubectl port-forward), or enable basic auth or client certificates "
        "(http.web_config_file, see docs/security.md); or, knowing that anyone who reaches "
        f"this port can then use it, set {INSECURE_WRITES_KEY}: true"
    )


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, json.dumps(body).encode() + b"\n")


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
    return compressor.compress(data) + compressor.flush()
