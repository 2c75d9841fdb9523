"""Calling a real agent's silence API as a client would: from loopback or from this host's
non-loopback address (tests/helpers/hostaddr.py), with basic auth or a client certificate."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, Optional

from tests.helpers.agentproc import AgentProcess
from tests.helpers.hostaddr import non_loopback_ipv4

SILENCES = "/api/v1/silences"


def call_raw(
    base: str,
    method: str,
    path: str,
    body: Optional[dict[str, Any]] = None,
    headers: Optional[dict[str, str]] = None,
    context: Optional[ssl.SSLContext] = None,
) -> tuple[int, bytes]:
    """(status, body as sent); the write methods get the Content-Type the agent requires (the
    agent's guard against browsers), which `headers` can replace."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json"} if method in ("POST", "DELETE") else {}
    sent.update(headers or {})
    request = urllib.request.Request(base + path, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def call(
    base: str,
    method: str,
    path: str,
    body: Optional[dict[str, Any]] = None,
    headers: Optional[dict[str, str]] = None,
    context: Optional[ssl.SSLContext] = None,
) -> tuple[int, Any]:
    """(status, parsed JSON body)."""
    status, answer = call_raw(base, method, path, body, headers, context)
    return status, json.loads(answer or b"null")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def silence(comment: str) -> dict[str, Any]:
    now = time.time()
    return {
        "matchers": [{"name": "alertname", "value": "Host.*", "isRegex": True}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 365 * 86400)),
        "createdBy": "test",
        "comment": comment,
    }


def remote(agent: AgentProcess, scheme: str = "http") -> str:
    """The agent's URL at this host's non-loopback address."""
    return f"{scheme}://{non_loopback_ipv4()}:{agent.port}"


def local(agent: AgentProcess, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{agent.port}"
