"""Whether the state directory takes writes. What keeps state there (the alert outbox, learned
baselines) degrades quietly when the disk is full or read-only; this makes that visible as
aiops_agent_state_dir_writable before the first write that matters fails."""

from __future__ import annotations

import os
import time

from aiops_agent.base.model import MetricFamily, Sample, gauge

PROBE_PERIOD = 10.0  # seconds between probes while writable; every call while not


class StateDirProbe:
    """Creates, writes one byte to and removes a file. Free space as statvfs tells it would be
    cheaper but misses read-only bind mounts, quotas and exhausted inodes; a real write does not.
    No fsync: the probe should not cost a disk flush every period."""

    def __init__(self, directory: str, period: float = PROBE_PERIOD) -> None:
        self.directory = directory
        self.period = period
        self.writable = 0.0
        self.error = ""
        self._last = float("-inf")

    def probe(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        if self.writable and now - self._last < self.period:
            return self.writable
        self._last = now
        path = os.path.join(self.directory, f".write-probe-{os.getpid()}")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(descriptor, b"\0")
            finally:
                os.close(descriptor)
                os.unlink(path)
        except OSError as error:
            self.writable, self.error = 0.0, error.strerror or type(error).__name__
        else:
            self.writable, self.error = 1.0, ""
        return self.writable

    def family(self) -> MetricFamily:
        return gauge(
            "aiops_agent_state_dir_writable",
            "1 if a file could be created and written in the state directory at the latest probe.",
            [Sample((), self.writable)],
        )
