"""The HTTP server's accept loop sleeps while nobody connects (no poll timeout: socketserver's
serve_forever woke every 0.5 s, a sixth of an idle agent's CPU) and still stops at once."""

from __future__ import annotations

import selectors
import socketserver
import urllib.request
from typing import Any, Optional

import pytest

from aiops_agent.httpserver import HttpServer
from aiops_agent.plugins import Request, Response


def hello(_request: Request) -> Response:
    return Response(200, b"hello", "text/plain")


def serve() -> HttpServer:
    return HttpServer(("127.0.0.1", 0), hello, lambda body: body, 4, 5.0)


@pytest.fixture
def select_timeouts(monkeypatch: pytest.MonkeyPatch) -> list[Optional[float]]:
    """The timeout of every select() any selector the server may use is called with."""
    seen: list[Optional[float]] = []

    def recording(base: Any) -> Any:
        class Recording(base):  # type: ignore[misc, valid-type]
            def select(self, timeout: Optional[float] = None) -> Any:
                seen.append(timeout)
                return super().select(timeout)

        return Recording

    monkeypatch.setattr(selectors, "DefaultSelector", recording(selectors.DefaultSelector))
    monkeypatch.setattr(socketserver, "_ServerSelector", recording(socketserver._ServerSelector))
    return seen


def test_the_accept_loop_waits_without_a_timeout(select_timeouts: list[Optional[float]]) -> None:
    server = serve()
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10) as answer:
            assert answer.read() == b"hello"
    finally:
        server.stop()
    # None: the loop's wait for a connection or stop(); 0: accepting the one select saw.
    assert select_timeouts
    assert [t for t in select_timeouts if t not in (None, 0)] == []


def test_stop_ends_the_loop_and_closes_the_port() -> None:
    server = serve()
    server.start()
    thread = server._thread
    assert thread is not None
    server.stop()
    thread.join(timeout=30)  # a generous deadline; stop() already joined it
    assert not thread.is_alive()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
