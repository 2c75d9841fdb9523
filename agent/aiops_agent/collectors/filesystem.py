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
    major: str = "0"
    minor: str = "0"


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


def parse_mountinfo(text: str) -> list[Mount]:
    """/proc/PID/mountinfo (what node_exporter 1.9 reads): also the device's major:minor, and
    the mount's own options (a bind mount can be read-only over a writable file system)."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10 or "-" not in parts[6:]:
            continue
        major, _, minor = parts[2].partition(":")
        separator = parts.index("-", 6)
        if len(parts) < separator + 3:
            continue
        device, fstype = parts[separator + 2], parts[separator + 1]
        readonly = "ro" in parts[5].split(",")
        mounts.append(Mount(_unescape(device), _unescape(parts[4]), fstype, readonly, major, minor))
    return mounts


def _read_mounts(host: HostPaths) -> list[Mount]:
    """PID 1's mountinfo under host_root, else this process' (as node_exporter falls back to
    self/mountinfo); /proc/PID/mounts where there is no mountinfo (some test trees)."""
    for path in (host.proc_of_host("mountinfo"), os.path.join(host.proc, "self/mountinfo")):
        try:
            return parse_mountinfo(read_text(path))
        except FileNotFoundError:
            continue
    return parse_mounts(read_text(host.proc_of_host("mounts")))


def _go_error_text(error: OSError | None) -> str:
    """An errno as Go's syscall package words it ("permission denied"): C's message with a
    lower-case first letter, which matches Go's table for the errors statfs returns."""
    if error is None or error.errno is None:
        return "unknown error"
    text = os.strerror(error.errno)
    return text[:1].lower() + text[1:]


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
        mount_info = gauge("node_filesystem_mount_info", "Filesystem mount information.")
        for mount in _read_mounts(self._host):
            if self._wanted(mount):
                # A later mount on the same point hides the earlier one; report what is visible.
                seen[(mount.device, mount.mountpoint)] = mount
        for mount in seen.values():
            stats, problem = self._statvfs(mount.mountpoint)
            # node_exporter 1.9 labels every series with the error (empty when none).
            labels = (
                ("device", mount.device),
                ("device_error", problem),
                ("fstype", mount.fstype),
                ("mountpoint", mount.mountpoint),
            )
            own_labels = (labels[0], *labels[2:])
            readonly.samples.append(Sample(labels, 1.0 if mount.readonly else 0.0))
            error.samples.append(Sample(labels, 0.0 if stats else 1.0))
            if stats is None:
                continue
            size = stats.f_blocks * stats.f_frsize
            free = stats.f_bfree * stats.f_frsize
            avail = stats.f_bavail * stats.f_frsize
            for family, value in zip(values, (size, free, avail, stats.f_files, stats.f_ffree)):
                family.samples.append(Sample(labels, float(value)))
            mount_info.samples.append(
                Sample(
                    (
                        ("device", mount.device),
                        ("major", mount.major),
                        ("minor", mount.minor),
                        ("mountpoint", mount.mountpoint),
                    ),
                    1.0,
                )
            )
            usable = size - free + avail
            if usable > 0:
                used.samples.append(Sample(own_labels, 1.0 - avail / usable))
        return [*values, readonly, error, mount_info, used, self._stuck_family()]

    def _statvfs(self, mountpoint: str) -> tuple[os.statvfs_result | None, str]:
        """(statvfs, "") or (None, the error as node_exporter words it)."""
        pending = self._stuck.get(mountpoint)
        if pending is not None:
            if not pending.done.is_set():
                return None, "mountpoint timeout"
            del self._stuck[mountpoint]
        call = self._workers.submit(self._host.in_root(mountpoint))
        if not call.done.wait(self._timeout):
            self._stuck[mountpoint] = call
            return None, "mountpoint timeout"
        if call.result is None:
            return None, _go_error_text(call.error)
        return call.result, ""

    def _stuck_family(self) -> MetricFamily:
        return gauge(
            "aiops_agent_filesystem_stalled_mounts",
            "Mount points whose statvfs did not return within stat_timeout and is still pending.",
            [Sample((), float(sum(not c.done.is_set() for c in self._stuck.values())))],
        )
