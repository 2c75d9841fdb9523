"""Waiting for behaviour instead of for time: machines running the tests are shared and noisy,
so a test polls for what it expects with a generous deadline and never sleeps then asserts."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")
DEADLINE = 30.0  # seconds; only a failing test waits this long


def eventually(condition: Callable[[], object], timeout: float = DEADLINE) -> bool:
    """Whether `condition()` became true within `timeout` seconds (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_for(value: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """The first truthy `value()`; fails naming `what` when none came within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = value()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.02)
