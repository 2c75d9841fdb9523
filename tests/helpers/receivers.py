"""A recording HTTP receiver on loopback for notification tests: every POST kept (path, headers,
body, what was answered), answers planned per request (status, headers, a delay, a hang, bytes
that are not HTTP, an error page that echoes the request)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Optional


class Behaviour(NamedTuple):
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before answering (a slow receiver)
    garbage: bool = False  # answer with bytes that are not HTTP
    hold: Optional[threading.Event] = None  # answer only once this is set (a hanging receiver)
    echo: bool = False  # repeat the request line and headers in the answer (a careless proxy)


class Received(NamedTuple):
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int  # what we answered
    at: float  # monotonic

    def json(self) -> Any:
        return json.loads(self.body)


class Recorder:
    """An HTTP server on loopback that records every POST and answers per plan (then with
    `default`). It listens on a port of its own choosing, or on `reserved` (see ports.reserve),
    for a receiver that was down at first."""

    def __init__(self, reserved: Optional[socket.socket] = None) -> None:
        self.received: list[Received] = []
        self.arrived = 0  # requests read, answered or not yet
        self.plan: list[Behaviour] = []
        self.default = Behaviour()
        self._lock = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recorder._lock:
                    how = recorder.plan.pop(0) if recorder.plan else recorder.default
                    recorder.arrived += 1
                if how.delay:
                    time.sleep(how.delay)
                if how.hold is not None:
                    how.hold.wait(120)
                if how.garbage:
                    self.wfile.write(b"SURPRISE\r\n\r\n")
                    self.close_connection = True
                else:
                    answer = f"bad request {self.requestline}\n{self.headers}" if how.echo else "ok"
                    self.send_response(how.status)
                    for name, value in how.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.encode())))
                    self.end_headers()
                    self.wfile.write(answer.encode())
                headers = {k.lower(): v for k, v in self.headers.items()}
                with recorder._lock:
                    recorder.received.append(
                        Received(
                            self.path,
                            headers,
                            body,
                            0 if how.garbage else how.status,
                            time.monotonic(),
                        )
                    )
                    recorder._lock.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        if reserved is not None:
            self.server.socket.close()
            self.server.socket = reserved
            self.server.server_address = reserved.getsockname()
        else:
            self.server.server_bind()
        self.server.server_activate()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait(self, count: int, timeout: float = 15.0, accepted_only: bool = True) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self.received if not accepted_only or 200 <= r.status < 300]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} requests arrived in time")
                self._lock.wait(left)

    def json_bodies(self) -> list[Any]:
        """Every POST's body as JSON (what is not JSON as {"unparsable": text}), in order."""
        with self._lock:
            bodies = [r.body for r in self.received]
        documents = []
        for body in bodies:
            try:
                documents.append(json.loads(body))
            except ValueError:
                documents.append({"unparsable": body.decode("utf-8", "replace")})
        return documents

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def recording(reserved: Optional[socket.socket] = None) -> Iterator[Recorder]:
    recorder = Recorder(reserved)
    try:
        yield recorder
    finally:
        recorder.stop()
