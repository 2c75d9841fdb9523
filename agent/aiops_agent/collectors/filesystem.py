"""Space and inodes per mount point (node_exporter's filesystem collector, same names, labels and
default exclusions). statvfs runs in worker threads with a timeout: a hung network mount is
reported as a device error and skipped until its call returns, and never stalls the loop."""

from __future__ import annotations

import os
import queue
import re
import threading
from typing import NamedTuple

from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import HostPaths, read_text
from aiops_agent.config.schema import FilesystemCollector as FilesystemSettings

_WORKERS = 2  # started at once; more are added while others are stuck on hung mounts
_MAX_WORKERS = 32  # past this many hung mounts, further calls wait in the queue and time out


class _StatCall:
    """One statvfs call handed to a worker; the collector waits on it with a timeout."""

    __slots__ = ("done", "error", "path", "result")

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = threading.Event()
        self.result: os.statvfs_result | None = None
        self.error: OSError | None = None


class _StatWorkers:
    """Daemon threads that run statvfs. Not concurrent.futures: its executor joins its threads at
    interpreter exit, so one call hung on a dead NFS server would keep the agent from stopping.
    A thread stuck on a hung mount is replaced, up to a cap, so healthy mounts keep being read
    however many network mounts hang."""

    def __init__(self, count: int, limit: int) -> None:
        self._calls: queue.SimpleQueue[_StatCall] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._limit = limit
        for _ in range(count):
            self._start()

    def _start(self) -> None:
        self._threads += 1
        self._idle += 1
        name = f"statvfs-{self._threads}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            try:
                call.result = os.statvfs(call.path)
            except OSError as error:
                call.error = error
            call.done.set()
            with self._lock:
                self._idle += 1

    def submit(self, path: str) -> _StatCall:
        call = _StatCall(path)
        with self._lock:
            if self._idle == 0 and self._threads < self._limit:
                self._start()
            self._idle -= 1
        self._calls.put(call)
        return call


_SHARED: list[_StatWorkers] = []  # one pool per process, made by the first collector


def _shared_workers() -> _StatWorkers:
    """The process' statvfs threads. Shared, so a reload that rebuilds the collector does not
    start more threads (those of a discarded pool would wait on its queue forever)."""
    if not _SHARED:
        _SHARED.append(_StatWorkers(_WORKERS, _MAX_WORKERS))
    return _SHARED[0]


class Mount(NamedTuple):
    device: str
    mountpoint: str
    fstype: str
    readonly: bool


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        options = parts[3].split(",")
        mounts.append(Mount(_unescape(parts[0]), _unescape(parts[1]), parts[2], "ro" in options))
    return mounts


_FIELDS = (
    ("node_filesystem_size_bytes", "Filesystem size in bytes."),
    ("node_filesystem_free_bytes", "Filesystem free space in bytes."),
    ("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes."),
    ("node_filesystem_files", "Filesystem total file nodes."),
    ("node_filesystem_files_free", "Filesystem total free file nodes."),
)


class FilesystemCollector:
    name = "filesystem"

    def __init__(self, settings: FilesystemSettings, host: HostPaths) -> None:
        self._host = host
        self._mounts_path = host.proc_of_host("mounts")
        self._timeout = settings.stat_timeout
        self._exclude_mount = re.compile(settings.mount_points_exclude)
        self._exclude_type = re.compile(settings.fs_types_exclude)
        self._include_mount = (
            re.compile(settings.mount_points_include) if settings.mount_points_include else None
        )
        self._include_type = (
            re.compile(settings.fs_types_include) if settings.fs_types_include else None
        )
        self._workers = _shared_workers()
        self._stuck: dict[str, _StatCall] = {}

    def _wanted(self, mount: Mount) -> bool:
        if self._include_mount and not self._include_mount.search(mount.mountpoint):
            return False
        if self._include_type and not self._include_type.search(mount.fstype):
            return False
        return not (
            self._exclude_mount.search(mount.mountpoint) or self._exclude_type.search(mount.fstype)
        )

    def collect(self) -> list[MetricFamily]:
        values = [gauge(name, help_text) for name, help_text in _FIELDS]
        readonly = gauge("node_filesystem_readonly", "Filesystem read-only status.")
        error = gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
        )
        used = gauge(
            "aiops_agent_filesystem_used_ratio",
            "Fraction of the file system's space in use, as df computes it: "
            "1 - avail / (size - free + avail).",
        )
        seen: dict[tuple[str, str], Mount] = {}
        for mount in parse_mounts(read_text(self._mounts_path)):
            if self._wanted(mount):
                # A later mount on the same point hides the earlier one; report what is visible.
                seen[(mount.device, mount.mountpoint)] = mount
        for mount in seen.values():
            labels = (
                ("device", mount.device),
                ("fstype", mount.fstype),
                ("mountpoint", mount.mountpoint),
            )
            readonly.samples.append(Sample(labels, 1.0 if mount.readonly else 0.0))
            stats = self._statvfs(mount.mountpoint)
            error.samples.append(Sample(labels, 0.0 if stats else 1.0))
            if stats is None:
                continue
            size = stats.f_blocks * stats.f_frsize
            free = stats.f_bfree * stats.f_frsize
            avail = stats.f_bavail * stats.f_frsize
            for family, value in zip(values, (size, free, avail, stats.f_files, stats.f_ffree)):
                family.samples.append(Sample(labels, float(value)))
            usable = size - free + avail
            if usable > 0:
                used.samples.append(Sample(labels, 1.0 - avail / usable))
        return [*values, readonly, error, used, self._stuck_family()]

    def _statvfs(self, mountpoint: str) -> os.statvfs_result | None:
        pending = self._stuck.get(mountpoint)
        if pending is not None:
            if not pending.done.is_set():
                return None
            del self._stuck[mountpoint]
        call = self._workers.submit(self._host.in_root(mountpoint))
        if not call.done.wait(self._timeout):
            self._stuck[mountpoint] = call
            return None
        return call.result

    def _stuck_family(self) -> MetricFamily:
        return gauge(
            "aiops_agent_filesystem_stalled_mounts",
            "Mount points whose statvfs did not return within stat_timeout and is still pending.",
            [Sample((), float(sum(not c.done.is_set() for c in self._stuck.values())))],
        )
