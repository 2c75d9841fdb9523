"""A small HTTP/1.1 server on socketserver. The standard library's http.server pulls in the email
package and costs ~6 MiB of resident memory on every host; the agent serves a handful of paths and
needs keep-alive, size limits and timeouts, which fit in this file."""

from __future__ import annotations

import logging
import re
import selectors
import socket
import socketserver
import threading
from typing import Callable, Optional

from aiops_agent.base.listen import ListenAddress, is_loopback_host
from aiops_agent.plugins import Request, Response
from aiops_agent.webconfig import PLAIN, WebSecurity

log = logging.getLogger("aiops_agent.http")

MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 16384
MAX_HEADERS = 64
MAX_BODY = 256 * 1024
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    409: "Conflict",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

Dispatch = Callable[[Request], Response]
_UNAUTHORIZED = Response(
    401,
    b'{"error": "unauthorized"}\n',
    headers=(("WWW-Authenticate", 'Basic realm="aiops-agent", charset="UTF-8"'),),
)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# Headers a reverse proxy adds: a request carrying one came from elsewhere through a proxy on
# this host, so its loopback peer address does not make it local (and its value, which the
# client may have written itself, is never believed either).
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")

_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def _unquote(path: str) -> str:
    """Percent-decoding of the request path (urllib.parse pulls in ~1 MiB more for this)."""
    if "%" not in path:
        return path
    raw = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), path.encode("latin-1"))
    return raw.decode("utf-8", errors="replace")


def _error(status: int, message: str) -> Response:
    import json  # noqa: PLC0415

    return Response(status, json.dumps({"error": message}).encode() + b"\n")


class _Handler(socketserver.StreamRequestHandler):
    server: HttpServer
    rbufsize = 65536

    def setup(self) -> None:
        self.request.settimeout(self.server.request_timeout)
        handshake = getattr(self.request, "do_handshake", None)  # only TLS sockets have one
        # A certificate the handshake verified against client_ca_file (none is asked for
        # without one, so a certificate here is always a verified one).
        self.client_certified = False
        if handshake is not None:
            # In this connection's own thread and under the timeout above, so a client that
            # stalls the handshake holds only itself up, never the accept loop.
            handshake()
            self.client_certified = bool(self.request.getpeercert())
        self.loopback_peer = is_loopback_host(str(self.client_address[0]))
        super().setup()

    def handle(self) -> None:
        slots = self.server.slots  # a reload may replace it; release the one acquired
        if not slots.acquire(blocking=False):
            self._write(_error(503, "too many connections"), keep_alive=False, head=False)
            return
        try:
            keep_alive = True
            while keep_alive and not self.server.closing:
                keep_alive = self._one_request()
        except (OSError, TimeoutError):
            pass  # client went away or idled out: nothing to answer
        finally:
            slots.release()

    def _readline(self, limit: int, status: int) -> bytes:
        line: bytes = self.rfile.readline(limit + 1)
        if len(line) > limit:
            raise _BadRequest(status, "line too long")
        return line

    def _one_request(self) -> bool:
        try:
            line = self._readline(MAX_REQUEST_LINE, 414)
            if not line:
                return False
            parts = line.decode("latin-1").rstrip("\r\n").split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                raise _BadRequest(400, "malformed request line")
            method, target, version = parts
            if version not in ("HTTP/1.0", "HTTP/1.1"):
                raise _BadRequest(505, "unsupported HTTP version")
            headers = self._read_headers()
            body = self._read_body(headers)
        except _BadRequest as error:
            self._write(_error(error.status, str(error)), keep_alive=False, head=False)
            return False
        connection = headers.get("connection", "").lower()
        keep_alive = (version == "HTTP/1.1" and connection != "close") or connection == "keep-alive"
        path, _, query = target.partition("?")
        path = _unquote(path)
        web = self.server.web
        auth = None if path in web.open_paths else web.auth
        if auth is not None and not auth.check(headers.get("authorization", "")):
            self._write(_UNAUTHORIZED, keep_alive, head=method.upper() == "HEAD")
            return keep_alive
        request = Request(
            method.upper(),
            path,
            query,
            headers,
            body,
            local=self.loopback_peer and not any(name in headers for name in PROXY_HEADERS),
            authenticated=auth is not None or self.client_certified,
        )
        try:
            response = self.server.dispatch(request)
        except Exception:  # a handler bug must not kill the server or leak a traceback
            log.exception("HTTP handler failed", extra={"path": request.path[:200]})
            response = _error(500, "internal error")
        self._write(response, keep_alive, head=request.method == "HEAD", request=request)
        return keep_alive

    def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        total = 0
        while True:
            line = self._readline(MAX_HEADER_BYTES, 431)
            total += len(line)
            if total > MAX_HEADER_BYTES or len(headers) > MAX_HEADERS:
                raise _BadRequest(431, "request headers too large")
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise _BadRequest(400, "connection closed inside the headers")
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not name.strip() or name != name.strip():
                raise _BadRequest(400, "malformed header line")
            headers[name.lower()] = value.strip()

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "transfer-encoding" in headers:
            raise _BadRequest(411, "chunked request bodies are not accepted; send Content-Length")
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise _BadRequest(400, "invalid Content-Length")
        length = int(length_text)
        if length > MAX_BODY:
            raise _BadRequest(413, f"request body larger than {MAX_BODY} bytes")
        body: bytes = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise _BadRequest(400, "request body shorter than Content-Length")
        return body

    def _write(
        self, response: Response, keep_alive: bool, head: bool, request: Optional[Request] = None
    ) -> None:
        body = response.body
        extra = list(response.headers)
        if (
            request is not None
            and len(body) > 1024
            and "gzip" in request.headers.get("accept-encoding", "")
        ):
            body = self.server.compress(body)
            extra.append(("Content-Encoding", "gzip"))
            extra.append(("Vary", "Accept-Encoding"))
        reason = _REASONS.get(response.status, "Unknown")
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            *(f"{name}: {value}" for name, value in extra),
        ]
        header = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: header and body in separate small writes meet Nagle's algorithm and the
        # client's delayed ACK, and each keep-alive response then waits ~40 ms for nothing.
        self.wfile.write(header if head else header + body)
        self.wfile.flush()


class HttpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    # handle_request() is called once select saw a connection: it must not wait for another if
    # that one was reset before accept (then the loop would not see stop()).
    timeout = 0

    def __init__(
        self,
        listen: ListenAddress,
        dispatch: Dispatch,
        compress: Callable[[bytes], bytes],
        max_connections: int,
        request_timeout: float,
        *,
        web: WebSecurity = PLAIN,
    ) -> None:
        host, port = listen
        # An ASCII host as bytes: a str makes getaddrinfo load the idna codec (~0.3 MiB).
        name = host.encode("ascii") if host.isascii() else host
        infos = socket.getaddrinfo(
            name or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        self.address_family = infos[0][0]
        self.dispatch = dispatch
        self.compress = compress
        self.reconfigure(max_connections, request_timeout, web)
        self.closing = False
        address = (str(infos[0][4][0]), int(infos[0][4][1]))
        super().__init__(address, _Handler)
        self._thread: Optional[threading.Thread] = None

    def reconfigure(self, max_connections: int, request_timeout: float, web: WebSecurity) -> None:
        """Apply a reload's http settings other than the address. Each is replaced whole and read
        once per connection, so connections already open finish under the old ones."""
        if max_connections != getattr(self, "max_connections", None):
            # Only when it changed: a new semaphore admits max_connections more at once.
            self.max_connections = max_connections
            self.slots = threading.BoundedSemaphore(max_connections)
        self.request_timeout = request_timeout
        self.web = web

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        """Accept connections until stop(). It blocks in select with no timeout, woken by a
        connection or by stop(): socketserver's serve_forever wakes every poll_interval to look
        for a shutdown request, two wake-ups a second at 0.5 s, about a sixth of an idle agent's
        CPU (bench/FINDINGS.md, suggestion 2)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while not self.closing:
                for key, _ in selector.select():
                    if key.fileobj is self and not self.closing:
                        self.handle_request()  # the connection is ready: it does not wait

    def stop(self) -> None:
        self.closing = True
        if self._thread is not None:
            self._wake_write.send(b"x")
            self._thread.join()
            self._wake_read.close()
            self._wake_write.close()
        self.server_close()

    def get_request(self) -> tuple[socket.socket, object]:
        connection, address = self.socket.accept()
        context = self.web.ssl_context
        if context is not None:
            # Only wrapped here; the handshake runs in the connection's thread (_Handler.setup).
            connection = context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("HTTP connection error", exc_info=True)
