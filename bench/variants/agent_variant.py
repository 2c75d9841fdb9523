"""Run `aiops-agent` with experimental changes applied in-process, for before/after measurements of
suggested improvements without editing agent/. VARIANT is a comma list of the names below; empty
runs the agent unchanged (through this same wrapper, so the wrapper's own cost cancels out).

    python bench/variants/agent_variant.py run --config FILE      (with VARIANT=one_write)
"""

from __future__ import annotations

import os
import sys


def one_write() -> None:
    """Buffer the response so status line, headers and body leave in one send(): with the default
    unbuffered writer the body is a second small write that Nagle holds until the client's delayed
    ACK (about 40 ms on Linux) when the client waits for the whole response."""
    from aiops_agent import httpserver  # noqa: PLC0415

    httpserver._Handler.wbufsize = 256 * 1024


def two_writes() -> None:
    """The response path before commit 5e84aeb: status line and headers in one send(), the body in
    a second (for a before/after of that fix)."""
    from aiops_agent import httpserver  # noqa: PLC0415

    original = httpserver._Handler.setup

    class Split:
        def __init__(self, raw: object) -> None:
            self.raw = raw

        def write(self, data: bytes) -> int:
            head, sep, body = bytes(data).partition(b"\r\n\r\n")
            self.raw.write(head + sep)  # type: ignore[attr-defined]
            if body:
                self.raw.write(body)  # type: ignore[attr-defined]
            return len(data)

        def flush(self) -> None:
            self.raw.flush()  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> object:
            return getattr(self.raw, name)

    def setup(self: object) -> None:
        original(self)  # type: ignore[arg-type]
        self.wfile = Split(self.wfile)  # type: ignore[attr-defined]

    httpserver._Handler.setup = setup  # type: ignore[method-assign]


def nodelay() -> None:
    """TCP_NODELAY on accepted connections (the other cure for the same stall)."""
    import socket  # noqa: PLC0415

    from aiops_agent import httpserver  # noqa: PLC0415

    original = httpserver._Handler.setup

    def setup(self: object) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
        original(self)  # type: ignore[arg-type]

    httpserver._Handler.setup = setup  # type: ignore[method-assign]


def no_openssl() -> None:
    """Emulate importing OpenSSL only when it is used: hashlib and hmac fall back to the builtin
    SHA-2 modules (they do when _hashlib is missing), and ssl is loaded on first use of anything
    but the few constants webconfig reads at import time. With TLS configured the real ssl loads;
    without it libssl and libcrypto are never mapped."""
    import enum  # noqa: PLC0415
    import types  # noqa: PLC0415

    sys.modules["_hashlib"] = None  # type: ignore[assignment]

    class _TLSVersion(enum.IntEnum):
        TLSv1_2 = 0x0303
        TLSv1_3 = 0x0304

    class _NeverSslSocket:  # httpserver asks isinstance(sock, ssl.SSLSocket) per connection
        pass

    class LazySsl(types.ModuleType):
        TLSVersion = _TLSVersion
        SSLSocket = _NeverSslSocket
        CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED = 0, 1, 2

        def __getattr__(self, name: str) -> object:
            del sys.modules["ssl"]
            import ssl as real  # noqa: PLC0415

            return getattr(real, name)

    sys.modules["ssl"] = LazySsl("ssl")


def no_statistics() -> None:
    """Replace `statistics` (which pulls in fractions, decimal and random) by the one function the
    alerting forecast uses, median, as a forecast module could define it itself."""
    import types  # noqa: PLC0415

    def median(data: object) -> float:
        values = sorted(data)  # type: ignore[call-overload]
        n = len(values)
        if n == 0:
            raise ValueError("no median for empty data")
        middle = n // 2
        return values[middle] if n % 2 else (values[middle - 1] + values[middle]) / 2

    module = types.ModuleType("statistics")
    module.median = median  # type: ignore[attr-defined]
    sys.modules["statistics"] = module


def raw_reads() -> None:
    """Read /proc and /sys files with os.open/os.read/os.close instead of open(): no TextIOWrapper
    or BufferedReader object per file (the collectors open ~250 files a collection)."""
    import importlib  # noqa: PLC0415

    from aiops_agent import collectors  # noqa: PLC0415
    from aiops_agent.collectors import host  # noqa: PLC0415

    def read_text(path: str) -> str:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            chunks = []
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks).decode("utf-8", "replace")

    class _Raw:
        __slots__ = ("fd",)

        def __init__(self, path: str, mode: str = "r", *args: object, **kwargs: object) -> None:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

        def __enter__(self) -> _Raw:
            return self

        def __exit__(self, *exc: object) -> None:
            os.close(self.fd)

        def read(self) -> bytes:
            chunks = []
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

    host.read_text = read_text  # type: ignore[assignment]
    import pkgutil  # noqa: PLC0415

    for info in pkgutil.iter_modules(collectors.__path__):
        module = importlib.import_module(f"aiops_agent.collectors.{info.name}")
        if getattr(module, "read_text", None) is not None:
            module.read_text = read_text  # type: ignore[attr-defined]
    from aiops_agent.collectors import processes  # noqa: PLC0415

    processes.open = _Raw  # type: ignore[attr-defined]  # its only open() is of /proc/PID/stat "rb"


def ascii_host() -> None:
    """Pass host names to getaddrinfo as ASCII bytes: a str host makes the socket module encode it
    with the idna codec, which imports encodings.idna, stringprep and unicodedata (~0.6 MiB) just
    to bind 127.0.0.1."""
    import socket  # noqa: PLC0415

    original = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, str) and host.isascii():
            host = host.encode("ascii")
        return original(host, *args, **kwargs)  # type: ignore[arg-type]

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


VARIANTS = {
    "one_write": one_write,
    "two_writes": two_writes,
    "nodelay": nodelay,
    "no_openssl": no_openssl,
    "no_statistics": no_statistics,
    "ascii_host": ascii_host,
    "raw_reads": raw_reads,
}


def main() -> int:
    for name in filter(None, os.environ.get("VARIANT", "").split(",")):
        VARIANTS[name]()
    from aiops_agent.cli import main as cli_main  # noqa: PLC0415

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
