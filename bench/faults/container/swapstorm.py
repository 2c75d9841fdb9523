"""A swap storm: a working set larger than memory, written page by page at a bounded rate, so
that pages go out to swap and come back in steadily until killed.

    python3 swapstorm.py --mib 1280 --rate 12000 --workers 4

Each worker process maps its share of --mib and first writes every page once, quickly (the
fill). Then it writes one byte a page, --rate pages a second in all, in an order that visits
every page of its share once a pass, the fill's order too: the page written next is the one
written longest ago, which the memory cgroup's reclaim has pushed out to swap. So each write
needs a page from swap (pswpin about --rate), and dirties one that must be written out again
(pswpout about --rate). Swap readahead reads a faulting page's neighbours too, so most of those
writes find their page already read in: major faults are about a sixth of --rate.

A bounded rate, not a writer as fast as the CPU allows (stress-ng --vm): reclaim keeps up with
it, so the memory cgroup does not OOM-kill the writer, and the paging is steady. Workers are
processes, not threads, so that their page faults wait on the disk in parallel.
"""

from __future__ import annotations

import argparse
import itertools
import math
import mmap
import os
import sys
import time
from collections.abc import Iterator

PAGE = mmap.PAGESIZE
STRIDE = 1031  # pages between consecutive writes (about 4 MiB), made coprime with the share
TICK = 0.01  # seconds between bursts of writes
FILL_RATE = 65536  # pages a second in all while filling (256 MiB/s with 4 KiB pages)


def paced(pages: int, rate: float) -> Iterator[int]:
    """Yield page counts to write now, `rate` a second, without bursting to catch up a delay."""
    per_tick = rate * TICK
    due = 0.0
    next_tick = time.monotonic()
    written = 0
    while written < pages:
        due += per_tick
        count = min(int(due), pages - written)
        due -= count
        written += count
        yield count
        next_tick += TICK
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:
            next_tick = time.monotonic()  # a second behind (the disk stalled): start afresh


def cycle(pages: int) -> Iterator[int]:
    """Page indices, every page once a pass, pass after pass, STRIDE or so apart."""
    stride = STRIDE
    while math.gcd(stride, pages) != 1:  # coprime: a pass visits every page once
        stride += 1
    index = 0
    while True:
        index = (index + stride) % pages
        yield index


def work(pages: int, rate: float, fill_rate: float) -> None:
    memory = mmap.mmap(-1, pages * PAGE)
    order = cycle(pages)
    # The fill writes in the same order as the passes after it, so from the first pass on the
    # page written next is the one written longest ago.
    for pass_rate in itertools.chain([fill_rate], itertools.repeat(rate)):
        for count in paced(pages, pass_rate):
            for index in itertools.islice(order, count):
                memory[index * PAGE] = 1


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, required=True, help="working set, all workers")
    parser.add_argument("--rate", type=float, required=True, help="pages written a second")
    parser.add_argument("--workers", type=int, default=4)
    return parser.parse_args(argv)


def main() -> None:
    args = parse(sys.argv[1:])
    pages = (args.mib << 20) // PAGE // args.workers
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            work(pages, args.rate / args.workers, FILL_RATE / args.workers)
            os._exit(0)
        children.append(pid)
    print(f"swapstorm: {args.workers} workers, {args.mib} MiB, {args.rate:.0f} pages/s", flush=True)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
