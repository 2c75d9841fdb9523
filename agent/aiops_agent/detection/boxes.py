"""A bounded memory of fuzzy-ART hyperboxes, searched all at once with integer lane arithmetic.

``BoxMemory`` holds up to ``capacity`` categories over ``dims`` integer features in
``[0, 127]``.  Each category is a box ``[lo, hi]`` per feature (fuzzy ART with fast learning
and complement coding is exactly this: the box grows to cover every input it learns).  The
distance of an input ``x`` to a box is the fuzzy-ART mismatch::

    units(x, box) = sum_i max(0, hi_i - x_i) + max(0, x_i - lo_i)
                  = (box size) + (L1 distance from x to the box)

so ``1 - units / full_scale`` is fuzzy ART's match value.

Why lanes: a per-category Python loop costs about 2.5 µs per category, so a few hundred
categories would blow the detector's 50 µs/sample budget.  Instead feature ``i`` of every
category is one byte slice (one byte, or "lane", per category), and the mismatch of ``x`` to
*all* categories is computed with a few C-speed operations per feature: ``bytes.translate``
through a 256-byte table applies ``max(0, hi - x_i)`` (or ``max(0, x_i - lo)``) to every lane
at once, and the translated slices, read as big integers, are added lane by lane (SWAR,
"SIMD within a register").  Lane sums are widened to 16 bits before they could carry into
the next lane.  Cost is linear in ``dims`` and nearly flat in ``capacity``.

Memory is fixed at creation: two ``dims * capacity`` byte arrays (lower and upper bounds,
feature-major), plus a 2-byte least-recently-used stamp per category; the lanes are turned
into integers only while a search runs (bytes are ~10 % smaller than Python's 30-bit-digit
integers, which matters at 16 KiB per series).  When full, the least recently used box is
replaced.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

__all__ = ["LANE_MAX", "BoxMemory"]

LANE_MAX = 127  # largest feature value: two clipped differences (<= 254) then fit one byte
_STAMP_MAX = 0xFFFF  # stamps are uint16; renumbered before they would overflow


@lru_cache(maxsize=1)
def _clip_tables() -> tuple[list[bytes], list[bytes]]:
    """For each x in 0..127, the tables v -> max(0, v - x) and v -> max(0, x - v).

    Shared by every memory (64 KiB once); bytes above LANE_MAX never occur in a lane.
    """
    above = [
        bytes(max(0, v - x) if v <= LANE_MAX else 0 for v in range(256))
        for x in range(LANE_MAX + 1)
    ]
    below = [
        bytes(max(0, x - v) if v <= LANE_MAX else 0 for v in range(256))
        for x in range(LANE_MAX + 1)
    ]
    return above, below


@lru_cache(maxsize=8)
def _even_bytes(lanes: int) -> int:
    """Mask of the even bytes of ``lanes`` lanes: widens 8-bit lanes into 16-bit ones."""
    return int.from_bytes(b"\xff\x00" * ((lanes + 1) // 2), "little")


def _uint16s(value: int, size: int, count: int) -> array[int]:
    """The first ``count`` 16-bit lanes of ``value`` (``size`` bytes long) as an array."""
    out = array("H", value.to_bytes(size, "little")[: 2 * count])
    if sys.byteorder == "big":
        out.byteswap()
    return out


class BoxMemory:
    """Up to ``capacity`` hyperboxes over ``dims`` features valued 0..127."""

    __slots__ = ("_capacity", "_clock", "_count", "_dims", "_hi", "_lo", "_stamps")

    def __init__(self, dims: int, capacity: int) -> None:
        if not 1 <= dims <= 256:
            # 256 features of at most 254 units each still fit a 16-bit lane sum.
            raise ValueError("dims must be in 1..256")
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._dims = dims
        self._capacity = capacity
        # Bound of feature i of box k is at [i * capacity + k]: a feature is one slice.
        self._lo = bytearray(dims * capacity)
        self._hi = bytearray(dims * capacity)
        self._count = 0
        self._clock = 0
        self._stamps = array("H", [0]) * capacity  # exact size: no over-allocation

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return self._capacity

    def nearest(self, x: Sequence[int]) -> tuple[int, int]:
        """(units, index) of the box with the smallest mismatch to x; (-1, -1) when empty."""
        if self._count == 0:
            return -1, -1
        size = self._capacity
        above, below = _clip_tables()
        even = _even_bytes(size)
        lows, highs = self._lo, self._hi
        acc_even = acc_odd = 0
        for i, xi in enumerate(x):
            part = slice(i * size, (i + 1) * size)
            # Lane k: max(0, hi_k - x) + max(0, x - lo_k) <= 254, so no carry between lanes.
            r = int.from_bytes(highs[part].translate(above[xi]), "little") + int.from_bytes(
                lows[part].translate(below[xi]), "little"
            )
            # Widen to 16-bit lanes (even boxes, odd boxes) before summing over features.
            acc_even += r & even
            acc_odd += (r >> 8) & even
        count = self._count
        wide = 2 * ((size + 1) // 2)  # bytes of the widened sums
        evens = _uint16s(acc_even, wide, (count + 1) // 2)  # boxes 0, 2, 4, ...
        odds = _uint16s(acc_odd, wide, count // 2)  # boxes 1, 3, 5, ...
        best_even = min(evens)
        if odds:
            best_odd = min(odds)
            if best_odd < best_even:
                return best_odd, 2 * odds.index(best_odd) + 1
        return best_even, 2 * evens.index(best_even)

    def expand(self, index: int, x: Sequence[int]) -> None:
        """Grow box ``index`` to cover x (fuzzy ART's fast learning) and mark it used."""
        lo, hi, size = self._lo, self._hi, self._capacity
        for at, xi in zip(range(index, index + size * len(x), size), x):
            if xi < lo[at]:
                lo[at] = xi
            elif xi > hi[at]:
                hi[at] = xi
        self._touch(index)

    def insert(self, x: Sequence[int]) -> int:
        """Store x as a new point-sized box, replacing the least recently used when full."""
        if self._count < self._capacity:
            index = self._count
            self._count += 1
        else:
            index = self._stamps.index(min(self._stamps))
        size = self._capacity
        self._lo[index::size] = self._hi[index::size] = bytes(x)
        self._touch(index)
        return index

    def remap(self, features: range, low_table: bytes, high_table: bytes) -> None:
        """Map the lanes of the given features through 256-byte translation tables.

        Used when the value range grows: box bounds are re-expressed in the new range
        (lower bounds rounded down, upper bounds up, so boxes still cover what they
        covered) instead of being forgotten.
        """
        size = self._capacity
        for i in features:
            part = slice(i * size, (i + 1) * size)
            self._lo[part] = self._lo[part].translate(low_table)
            self._hi[part] = self._hi[part].translate(high_table)

    def _touch(self, index: int) -> None:
        if self._clock >= _STAMP_MAX:
            # Keep the recency order, restart the numbering (rare: once per 65535 uses).
            order = sorted(range(self._count), key=self._stamps.__getitem__)
            for rank, k in enumerate(order):
                self._stamps[k] = rank
            self._clock = self._count
        self._clock += 1
        self._stamps[index] = self._clock

    # -- persistence --------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot of the learned boxes."""
        stamps = array("H", self._stamps)
        if sys.byteorder == "big":
            stamps.byteswap()
        return {
            "count": self._count,
            "clock": self._clock,
            "lo": _b64(self._lo),
            "hi": _b64(self._hi),
            "stamps": _b64(stamps.tobytes()),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot taken by ``state()`` from a memory of the same shape."""
        size, dims = self._capacity, self._dims
        lo = base64.b64decode(state["lo"])
        hi = base64.b64decode(state["hi"])
        stamps = array("H", base64.b64decode(state["stamps"]))
        count, clock = int(state["count"]), int(state["clock"])
        if len(lo) != size * dims or len(hi) != size * dims or len(stamps) != size:
            raise ValueError(f"box memory state does not match dims={dims} capacity={size}")
        if not 0 <= count <= size or not 0 <= clock <= _STAMP_MAX:
            raise ValueError("box memory state has count or clock out of range")
        if max(lo + hi, default=0) > LANE_MAX:
            raise ValueError(f"box memory state has a bound above {LANE_MAX}")
        if sys.byteorder == "big":
            stamps.byteswap()
        self._lo, self._hi = bytearray(lo), bytearray(hi)
        self._stamps = stamps
        self._count = count
        self._clock = clock


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode("ascii")
