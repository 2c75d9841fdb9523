"""Ports without the find-a-free-port race (bind port 0, close, hand the number to a server: by
then another process may hold it). A server is started on port 0 and its port read back: the
agent from its "agent started" log line (agentproc.py), another program from the kernel's socket
table (listening_port); a receiver that must be down at first holds its port bound but not
listening (reserve), where connections are refused, and listens on it later."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.helpers.wait import wait_for

_LISTEN = "0A"  # TCP state in /proc/net/tcp


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (its sockets, looked up in its network
    namespace's tables)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == _LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def listening_port(process: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> int:
    """The one port a process started with port 0 listens on, once it does."""

    def port() -> int:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode} before listening")
        found = listening_ports(process.pid)
        assert len(found) <= 1, f"{what} listens on several ports: {sorted(found)}"
        return found.pop() if found else 0

    return wait_for(port, f"{what} listening")


def reserve() -> socket.socket:
    """A loopback port bound but not listening: connections to it are refused until the socket
    it is handed to listens (Recorder(reserved=...))."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    return held
