"""systemd's notify protocol: a datagram per state change to $NOTIFY_SOCKET (no libsystemd)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Optional


class Notifier:
    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        # An abstract socket is written "@name" and addressed with a leading NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: Optional[socket.socket] = None
        watchdog_usec = environ.get("WATCHDOG_USEC", "")
        watchdog_pid = environ.get("WATCHDOG_PID", "")
        self.watchdog_interval: Optional[float] = None
        if watchdog_usec.isdigit() and (not watchdog_pid or watchdog_pid == str(os.getpid())):
            # Ping twice per timeout, as sd_watchdog_enabled(3) advises.
            self.watchdog_interval = int(watchdog_usec) / 1e6 / 2

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *states: str) -> None:
        if not self._address:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto("\n".join(states).encode(), self._address)
        except OSError:
            pass  # systemd going away must not take the agent with it

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        import time  # noqa: PLC0415

        # systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 for Type=notify-reload.
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")
