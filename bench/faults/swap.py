"""The swap file the swap storm needs, added only when asked (`run.py --swap-file SIZE`).

A container shares the machine's kernel and its swap, so a storm in the host container needs swap
on the machine: a swap file, added for the run and removed in its cleanup. The benchmark refuses
to run with swap it did not add (someone's swap, which a storm would fill and its removal would
not give back), and bounds the storm by the container's memory-swap limit, so the container can
use at most this file.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

# ext4 on /: a swap file must be on a block device's file system (not tmpfs such as /dev/shm)
SWAP_DIR = Path("/var/tmp")  # noqa: S108
MIB = 1 << 20
SMALLEST = 128 * MIB
LARGEST = 4096 * MIB  # keep the machine's swap small: the storm needs only a few hundred MiB
UNITS = {"": 1, "k": 1 << 10, "m": MIB, "g": 1 << 30}


class SwapError(RuntimeError):
    pass


def parse_size(text: str) -> int:
    """512M, 1G, 1GiB, 1536MiB -> bytes, a whole number of MiB within the bounds above."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"swap file size {text!r}: expected a size such as 512M or 1G")
    size = int(match.group(1)) * UNITS[match.group(2).lower()]
    if size % MIB or not SMALLEST <= size <= LARGEST:
        raise ValueError(
            f"swap file size {text!r}: a whole number of MiB from {SMALLEST // MIB}M to "
            f"{LARGEST // MIB}M"
        )
    return size


def active_swaps(proc_swaps: str) -> list[str]:
    """The devices and files /proc/swaps lists (its first line is a header)."""
    return [line.split()[0] for line in proc_swaps.splitlines()[1:] if line.strip()]


def refuse_foreign(proc_swaps: str, ours: Path | None = None) -> None:
    """Raise unless every active swap is `ours`: the run must not fill or count someone's swap."""
    foreign = [name for name in active_swaps(proc_swaps) if ours is None or name != str(ours)]
    if foreign:
        raise SwapError(
            f"swap is already active on this machine ({', '.join(foreign)}, /proc/swaps); "
            "the swap storm adds and removes its own swap file and will not run beside it: "
            "run `swapoff` on it first, or leave out --swap-file"
        )


def read_swaps() -> str:
    return Path("/proc/swaps").read_text()


class SwapFile:
    """A swap file of `size` bytes at `path`; `add` switches it on, `remove` off and deletes it."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    def add(self) -> None:
        refuse_foreign(read_swaps())
        # dd, not fallocate: swapon refuses files with holes or unwritten extents on some kernels
        _run("dd", "if=/dev/zero", f"of={self.path}", "bs=1M", f"count={self.size // MIB}",
             "status=none")  # fmt: skip
        os.chmod(self.path, 0o600)
        _run("mkswap", "-q", str(self.path))
        _run("swapon", str(self.path))

    def remove(self) -> None:
        """swapoff (pages in it come back to memory), then delete; safe to call twice."""
        if str(self.path) in active_swaps(read_swaps()):
            _run("swapoff", str(self.path))
        self.path.unlink(missing_ok=True)


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        raise SwapError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
