"""Where the configured receivers connect to, for firewalls and NetworkPolicies
(`aiops-agent check-config --print-endpoints`). Only the host and port leave here, never a
URL's path, query or user info: those may hold a token."""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Any, Optional

from aiops_agent.config.notify_schema import EmailReceiver, LogReceiver
from aiops_agent.config.schema import Config
from aiops_agent.config.types import Secret

_DEFAULT_PORTS = {"http": 80, "https": 443}


def receiver_endpoints(config: Config) -> list[dict[str, Any]]:
    """One entry per receiver that opens a connection, sorted by name: {"receiver", "type",
    "host", "port", "cidr", "unresolved"}: cidr is "ADDRESS/32" (or /128) when the host is an IP
    literal, else null; a URL left as an unresolved secret reference (check-config
    --no-resolve-secrets) has "unresolved": true and null host, port and cidr."""
    endpoints = []
    for name in sorted(config.receivers):
        receiver = config.receivers[name]
        settings = receiver.settings
        if isinstance(settings, LogReceiver):
            continue
        if isinstance(settings, EmailReceiver):
            host, _, port = settings.smarthost.rpartition(":")
            endpoint = _endpoint(host.strip("[]"), int(port))
        else:
            url = settings.url
            endpoint = _url_endpoint(url if isinstance(url, Secret) else Secret(url))
        endpoints.append({"receiver": name, "type": receiver.type, **endpoint})
    return endpoints


def _url_endpoint(url: Secret) -> dict[str, Any]:
    if url.reference:
        return {"host": None, "port": None, "cidr": None, "unresolved": True}
    parts = urllib.parse.urlsplit(url.reveal())
    port: Optional[int] = parts.port  # the schema checked that it parses
    return _endpoint(parts.hostname or "", port or _DEFAULT_PORTS[parts.scheme])


def _endpoint(host: str, port: int) -> dict[str, Any]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        cidr = None
    else:
        cidr = f"{address}/{address.max_prefixlen}"
    return {"host": host, "port": port, "cidr": cidr, "unresolved": False}
