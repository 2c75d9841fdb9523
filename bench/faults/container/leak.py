"""A memory leak: grow resident memory at a steady rate until MemAvailable/MemTotal (the host's
view, /proc/meminfo) is down to --floor, then hold it until killed. Pages are written so they
are really resident.

    python3 leak.py --ramp-seconds 60 --floor 0.05
"""

import argparse
import time

CHUNK = 4 << 20


def meminfo() -> dict:
    values = {}
    with open("/proc/meminfo") as lines:
        for line in lines:
            name, rest = line.split(":", 1)
            values[name] = int(rest.split()[0]) * 1024
    return values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ramp-seconds", type=float, required=True)
    parser.add_argument("--floor", type=float, default=0.05)
    args = parser.parse_args()
    info = meminfo()
    target = info["MemAvailable"] - args.floor * info["MemTotal"]
    chunks = max(1, int(target // CHUNK))
    pause = args.ramp_seconds / chunks
    held = []
    started = time.monotonic()
    for index in range(chunks):
        now = meminfo()
        if now["MemAvailable"] <= args.floor * now["MemTotal"]:
            break
        block = bytearray(CHUNK)
        block[::4096] = b"x" * (CHUNK // 4096)
        held.append(block)
        # Steady rate: sleep until this chunk's slot on the ramp.
        time.sleep(max(0.0, started + (index + 1) * pause - time.monotonic()))
    print(f"leak: holding {len(held) * CHUNK >> 20} MiB", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
