"""The rule for write endpoints, in-process: a method a route does not declare read-only is served
to a local or authenticated caller, or to anyone with http.insecure_unauthenticated_writes, and
refused with 403 otherwise; which peers count as loopback; what aiops_agent_http_exposed says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops_agent.base.listen import is_loopback_host
from aiops_agent.plugins import READ_METHODS, Request, Response, Route
from aiops_agent.routes import Endpoints, MetricsPage
from aiops_agent.webconfig import PLAIN, Exposure, exposure
from tests.helpers.alerting import config_from


def endpoints(insecure: bool = False) -> tuple[Endpoints, list[str]]:
    served: list[str] = []

    def handler(request: Request) -> Response:
        served.append(request.method)
        return Response(200, b"{}\n")

    def check() -> tuple[bool, dict[str, object]]:
        return True, {}

    routes = Endpoints(MetricsPage(), check, check, lambda: insecure)
    routes.set_plugin_routes(
        {"/w": Route(handler), "/query": Route(handler, READ_METHODS | {"POST"})}
    )
    return routes, served


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH"])
def test_writes_need_a_local_or_authenticated_caller(method: str) -> None:
    routes, served = endpoints()
    refused = routes.dispatch(Request(method, "/w", "", {}, b""))
    assert refused.status == 403
    assert "http.web_config_file" in json.loads(refused.body)["error"]
    assert served == []
    assert routes.dispatch(Request(method, "/w", "", {}, b"", local=True)).status == 200
    assert routes.dispatch(Request(method, "/w", "", {}, b"", authenticated=True)).status == 200
    assert served == [method, method]


def test_reads_and_declared_read_methods_are_served_to_anyone() -> None:
    routes, served = endpoints()
    assert routes.dispatch(Request("GET", "/w", "", {}, b"")).status == 200
    assert routes.dispatch(Request("POST", "/query", "", {}, b"")).status == 200
    assert routes.dispatch(Request("GET", "/metrics", "", {}, b"")).status == 200
    assert served == ["GET", "POST"]


def test_insecure_opt_in_serves_writes_to_anyone() -> None:
    routes, served = endpoints(insecure=True)
    assert routes.dispatch(Request("POST", "/w", "", {}, b"")).status == 200
    assert served == ["POST"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::FFFF:127.0.0.1", True),
        ("localhost", True),
        ("192.0.2.2", False),
        ("::ffff:192.0.2.2", False),
        ("fd00::2", False),
        ("0.0.0.0", False),
        ("", False),
        ("128.0.0.1", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        ({}, Exposure(False, False, "none", False)),
        ({"insecure_unauthenticated_writes": True}, Exposure(False, False, "none", False)),
        ({"listen": "[::1]:9877"}, Exposure(False, False, "none", False)),
        ({"listen": "0.0.0.0:9877"}, Exposure(True, False, "none", False)),
        ({"listen": "192.0.2.2:9877"}, Exposure(True, False, "none", False)),
        (
            {"listen": "[::]:9877", "insecure_unauthenticated_writes": True},
            Exposure(True, False, "none", True),
        ),
    ],
)
def test_exposure(tmp_path: Path, http: dict[str, object], expected: Exposure) -> None:
    assert exposure(config_from(tmp_path, {"http": http}), PLAIN) == expected
