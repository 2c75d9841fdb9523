"""Where the host's kernel interfaces are. With host_root set (e.g. /host in a Kubernetes
DaemonSet), every collector reads the host's /proc, /sys and mount points under that prefix, the
way node_exporter's --path.rootfs and Telegraf's HOST_MOUNT_PREFIX work."""

from __future__ import annotations

import os
from typing import NamedTuple


class HostPaths(NamedTuple):
    root: str  # "/" or the prefix the host's / is mounted at
    proc: str
    sys: str

    @classmethod
    def under(cls, root: str) -> HostPaths:
        root = os.path.normpath(root or "/")
        return cls(root, os.path.join(root, "proc"), os.path.join(root, "sys"))

    @property
    def prefixed(self) -> bool:
        return self.root != "/"

    def in_root(self, host_path: str) -> str:
        """The path at which this process sees the host's file `host_path`."""
        return host_path if not self.prefixed else os.path.join(self.root, host_path.lstrip("/"))

    def proc_of_host(self, name: str) -> str:
        """A per-namespace /proc file as the host sees it. Under a prefix, /proc/self belongs to no
        process the agent can name, so read PID 1's view: the host's init, in the host's mount and
        network namespaces (what node_exporter does with /proc/1/mounts)."""
        if self.prefixed:
            candidate = os.path.join(self.proc, "1", name)
            if os.path.exists(candidate):
                return candidate
        return os.path.join(self.proc, name)


def read_bytes(path: str) -> bytes:
    """The whole file through os.read: a collection reads ~250 small /proc and /sys files, and a
    Python file object per file costs a quarter of the collection's CPU (bench/FINDINGS.md)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(descriptor, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(descriptor)


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8", errors="replace")
