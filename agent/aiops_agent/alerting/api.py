"""HTTP endpoints: GET /api/v1/alerts (Prometheus' shape), and /api/v1/silences: GET lists, POST
creates (Alertmanager's silence object), DELETE ?id= expires.

The mutating methods are guarded against browsers: the agent listens on loopback, but any web
page a user on that host opens can send requests to loopback. So they require
Content-Type: application/json (which a cross-site page cannot send without a CORS preflight this
server never grants), refuse requests whose Origin or Sec-Fetch-Site says they come from another
site, and refuse Host names other than an IP address, localhost or this host's name (which
defeats DNS rebinding, where a hostile name resolves to 127.0.0.1 and the page becomes
"same-origin"). Who may write at all (loopback, basic auth, client certificates) is the runtime's
rule for every route (routes.py), not these handlers'."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Optional

from aiops_agent.alerting.silences import SilenceLimitError, SilenceStore, silence_from_json
from aiops_agent.plugins import Request, Response, Route

ALERTS_PATH = "/api/v1/alerts"
SILENCES_PATH = "/api/v1/silences"


class AlertingApi:
    def __init__(
        self,
        alerts: Callable[[], list[dict[str, Any]]],
        silences: SilenceStore,
        mutable: Callable[[], bool],
        host_names: Callable[[], set[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._alerts = alerts
        self._silences = silences
        self._mutable = mutable  # alerting.silence_api, read per request so a reload applies
        self._host_names = host_names
        self._clock = clock

    def routes(self) -> dict[str, Route]:
        # POST and DELETE of silences are writes (every method but GET and HEAD): the runtime
        # serves them only to loopback or authenticated callers (routes.py).
        return {ALERTS_PATH: Route(self.alerts), SILENCES_PATH: Route(self.silences)}

    def alerts(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET, HEAD")
        return _json(200, {"status": "success", "data": {"alerts": self._alerts()}})

    def silences(self, request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            now = self._clock()
            listed = [s.as_json(now) for s in self._silences.all(now)]
            return _json(200, {"status": "success", "data": listed})
        if request.method not in ("POST", "DELETE"):
            return _method_not_allowed("GET, HEAD, POST, DELETE")
        refusal = self._guard(request)
        if refusal is not None:
            return refusal
        if request.method == "POST":
            return self._create(request)
        return self._expire(request)

    def _guard(self, request: Request) -> Optional[Response]:
        if not self._mutable():
            return _error(403, "the silence API is read-only here (alerting.silence_api: false)")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "send Content-Type: application/json")
        fetch_site = request.headers.get("sec-fetch-site", "").lower()
        if fetch_site not in ("", "same-origin", "none"):
            return _error(403, "cross-site requests are refused")
        host = request.headers.get("host", "")
        if host and not self._host_allowed(host):
            return _error(403, "unexpected Host header")
        origin = request.headers.get("origin")
        if origin is not None and origin.partition("://")[2].rstrip("/").lower() != host.lower():
            return _error(403, "cross-origin requests are refused")
        return None

    def _host_allowed(self, host_header: str) -> bool:
        import ipaddress  # noqa: PLC0415 - only mutating requests need it

        host = host_header.lower()
        if host.startswith("["):  # [::1]:9877
            host = host[1:].partition("]")[0]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            pass
        return host == "localhost" or host in self._host_names()

    def _create(self, request: Request) -> Response:
        now = self._clock()
        try:
            data = json.loads(request.body or b"null")
            silence = silence_from_json(data, now, _new_id())
        except (ValueError, RecursionError) as error:
            return _error(400, str(error))
        try:
            self._silences.add(silence, now)
        except SilenceLimitError as error:
            return _error(422, str(error))
        return _json(200, {"status": "success", "data": {"silenceId": silence.id}})

    def _expire(self, request: Request) -> Response:
        from urllib.parse import parse_qs  # noqa: PLC0415 - only DELETE needs it (~1 MiB)

        ids = parse_qs(request.query).get("id", [])
        if len(ids) != 1 or not ids[0]:
            return _error(400, "name one silence: DELETE /api/v1/silences?id=ID")
        problem = self._silences.expire(ids[0], self._clock())
        if problem == "not found":
            return _error(404, "no such silence")
        if problem is not None:
            return _error(422, f"cannot expire this silence: {problem}")
        return _json(200, {"status": "success"})


def _new_id() -> str:
    """A random UUID (version 4), without importing the uuid module."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _json(status: int, body: Any) -> Response:
    return Response(status, json.dumps(body).encode() + b"\n")


def _error(status: int, message: str) -> Response:
    return _json(status, {"status": "error", "error": message})


def _method_not_allowed(allowed: str) -> Response:
    body = {"status": "error", "error": "method not allowed"}
    return Response(405, json.dumps(body).encode() + b"\n", headers=(("Allow", allowed),))
