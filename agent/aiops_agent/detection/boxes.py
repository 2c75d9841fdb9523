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
through a 256-byte table applies ``max(0, hi - x_i)`` and ``max(0, x_i - lo)`` to every lane
at once, and the translated slices, read as big integers, are added lane by lane (SWAR,
"SIMD within a register").  Cost is linear in ``dims`` and nearly flat in ``capacity``.

Layout, chosen to minimise the Python-level operations per feature (the search is most of
the detector's per-sample cost): feature ``i`` is one slice holding the upper bounds of all
boxes, then their lower bounds stored as ``lo + 128``.  One table per ``x_i`` maps a byte
below 128 (an upper bound) to ``max(0, hi - x_i)`` and one from 128 up (a lower bound) to
``max(0, x_i - lo)``, so a feature costs one slice, one ``translate`` and one conversion.
Both terms are at most 127, so two features' slices can be added before the bytes are
widened into 16-bit lanes, and the upper-bound and lower-bound halves are folded together
once at the end.

Memory is fixed at creation: one ``dims * 2 * capacity`` byte array (a pad lane is added
when ``capacity`` is odd, so that 16-bit lanes line up), plus a 2-byte least-recently-used
stamp per category; the lanes are turned into integers only while a search runs (bytes are
~10 % smaller than Python's 30-bit-digit integers, which matters at 16 KiB per series).
When full, the least recently used box is replaced.  Saved states keep separate ``lo`` and
``hi`` arrays (feature-major, ``capacity`` lanes each), independent of this layout.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Iterable, Sequence
from functools import lru_cache
from operator import add
from typing import Any

__all__ = ["LANE_MAX", "BoxMemory"]

LANE_MAX = 127  # largest feature value: each clipped difference (<= 127) fits 7 bits
_LOW = 128  # lower bounds are stored as lo + _LOW, next to the upper bounds
_STAMP_MAX = 0xFFFF  # stamps are uint16; renumbered before they would overflow
_RAISE = bytes((v + _LOW) & 0xFF for v in range(256))  # lo -> stored lower bound
_LOWER = bytes((v - _LOW) & 0xFF for v in range(256))  # stored lower bound -> lo


@lru_cache(maxsize=1)
def _mismatch_tables() -> list[bytes]:
    """For each x in 0..127, the table hi -> max(0, hi - x), (lo + 128) -> max(0, x - lo).

    Shared by every memory (32 KiB once).
    """
    return [
        bytes(max(0, v - x) if v < _LOW else max(0, x - (v - _LOW)) for v in range(256))
        for x in range(LANE_MAX + 1)
    ]


@lru_cache(maxsize=8)
def _even_bytes(size: int) -> int:
    """Mask of the even bytes of ``size`` bytes: widens 8-bit lanes into 16-bit ones."""
    return int.from_bytes(b"\xff\x00" * ((size + 1) // 2), "little")


@lru_cache(maxsize=8)
def _feature_slices(dims: int, width: int) -> tuple[slice, ...]:
    return tuple(slice(i * width, (i + 1) * width) for i in range(dims))


@lru_cache(maxsize=256)
def _all_but(byte: int) -> bytes:
    """Translation table: ``byte`` -> 0, every other byte -> 255."""
    return b"\xff" * byte + b"\x00" + b"\xff" * (255 - byte)


def _smallest_lane(raw: bytes) -> tuple[int, int]:
    """(value, lane) of the smallest little-endian 16-bit lane of ``raw``; first lane on ties.

    ``min`` over an array of 16-bit numbers makes an int object per lane (about as costly as
    the whole search before it).  Here bytes are compared instead: the smallest high byte is
    found by membership tests counting up from 0 (C ``memchr``; it is small, since good
    matches have few units), then the smallest low byte among the lanes with that high byte.
    """
    highs, lows = raw[1::2], raw[0::2]
    top = 0
    while top not in highs:
        top += 1
    # Lanes with another high byte get a low byte of 255, so they cannot be below a rival.
    size = len(lows)
    masked = (
        int.from_bytes(lows, "little") | int.from_bytes(highs.translate(_all_but(top)), "little")
    ).to_bytes(size, "little")
    low = min(masked)
    lane = masked.index(low)
    while highs[lane] != top:  # only when low is 255: a masked lane came first
        lane = masked.index(low, lane + 1)
    return top << 8 | low, lane


class BoxMemory:
    """Up to ``capacity`` hyperboxes over ``dims`` features valued 0..127."""

    __slots__ = ("_bounds", "_capacity", "_clock", "_count", "_dims", "_lanes", "_stamps")

    def __init__(self, dims: int, capacity: int) -> None:
        if not 1 <= dims <= 256:
            # 256 features of at most 254 units each still fit a 16-bit lane sum.
            raise ValueError("dims must be in 1..256")
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._dims = dims
        self._capacity = capacity
        self._lanes = capacity + (capacity & 1)  # per bound and feature; even, see above
        # Feature i: upper bounds at [i * 2 * lanes + k], lower bounds + 128 `lanes` later.
        self._bounds = bytearray((bytes(self._lanes) + bytes([_LOW]) * self._lanes) * dims)
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
        count = self._count
        if count == 0:
            return -1, -1
        lanes = self._lanes
        width = 2 * lanes
        tables = _mismatch_tables()
        bounds = self._bounds
        from_bytes = int.from_bytes
        terms = [
            from_bytes(bounds[part].translate(tables[xi]), "little")
            for part, xi in zip(_feature_slices(self._dims, width), x)
        ]
        # Each byte of a term is <= 127, so two terms add without carrying between lanes;
        # the sums are then widened to 16-bit lanes (even boxes, odd boxes) and accumulated.
        even = _even_bytes(width)
        acc_even = acc_odd = 0
        for r in map(add, terms[0::2], terms[1::2]):
            acc_even += r & even
            acc_odd += (r >> 8) & even
        if len(terms) % 2:
            acc_even += terms[-1] & even
            acc_odd += (terms[-1] >> 8) & even
        # Fold the lower-bound half onto the upper-bound half: lane k is then box k's units.
        shift = 8 * lanes
        half = (1 << shift) - 1
        evens, odds = (count + 1) // 2, count // 2  # boxes 0, 2, 4, ... and 1, 3, 5, ...
        raw_even = ((acc_even & half) + (acc_even >> shift)).to_bytes(lanes, "little")
        raw_odd = ((acc_odd & half) + (acc_odd >> shift)).to_bytes(lanes, "little")
        # Even boxes first, so that on a tie an even box wins (as the search always did).
        units, lane = _smallest_lane(raw_even[: 2 * evens] + raw_odd[: 2 * odds])
        return units, 2 * lane if lane < evens else 2 * (lane - evens) + 1

    def expand(self, index: int, x: Sequence[int]) -> None:
        """Grow box ``index`` to cover x (fuzzy ART's fast learning) and mark it used."""
        bounds, lanes = self._bounds, self._lanes
        width = 2 * lanes
        for at, xi in zip(range(index, index + width * len(x), width), x):
            if xi > bounds[at]:
                bounds[at] = xi
            elif xi + _LOW < bounds[at + lanes]:
                bounds[at + lanes] = xi + _LOW
        self._touch(index)

    def insert(self, x: Sequence[int]) -> int:
        """Store x as a new point-sized box, replacing the least recently used when full."""
        if self._count < self._capacity:
            index = self._count
            self._count += 1
        else:
            index = self._stamps.index(min(self._stamps))
        width = 2 * self._lanes
        point = bytes(x)
        self._bounds[index::width] = point
        self._bounds[index + self._lanes :: width] = point.translate(_RAISE)
        self._touch(index)
        return index

    def remap(self, features: Iterable[int], low_table: bytes, high_table: bytes) -> None:
        """Map the bounds of the given features through 256-byte translation tables.

        Used when the value range grows: box bounds are re-expressed in the new range
        (lower bounds rounded down, upper bounds up, so boxes still cover what they
        covered) instead of being forgotten.  The tables map bounds 0..127 to 0..127.
        """
        stored_low = bytes(v + _LOW for v in low_table[:_LOW])
        table = high_table[:_LOW] + stored_low
        parts = _feature_slices(self._dims, 2 * self._lanes)
        bounds = self._bounds
        for i in features:
            bounds[parts[i]] = bounds[parts[i]].translate(table)

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

    def _side(self, offset: int) -> bytes:
        """One bound of every box, feature-major, ``capacity`` lanes per feature."""
        width, size, bounds = 2 * self._lanes, self._capacity, self._bounds
        return b"".join(
            bounds[at : at + size] for at in range(offset, offset + width * self._dims, width)
        )

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot of the learned boxes."""
        stamps = array("H", self._stamps)
        if sys.byteorder == "big":
            stamps.byteswap()
        return {
            "count": self._count,
            "clock": self._clock,
            "lo": _b64(self._side(self._lanes).translate(_LOWER)),
            "hi": _b64(self._side(0)),
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
        pad = self._lanes - size
        stored_lo = lo.translate(_RAISE)
        self._bounds = bytearray(
            b"".join(
                hi[at : at + size] + bytes(pad) + stored_lo[at : at + size] + bytes([_LOW]) * pad
                for at in range(0, size * dims, size)
            )
        )
        self._stamps = stamps
        self._count = count
        self._clock = clock


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode("ascii")
