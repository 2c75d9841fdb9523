"""Fill a file system at a steady rate until it is exhausted, then hold until killed.

python3 fill.py space DIR --ramp-seconds 60    1 MiB files until ENOSPC
python3 fill.py inodes DIR --ramp-seconds 60   empty files until no inode is left
"""

import argparse
import os
import time

MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("space", "inodes"))
    parser.add_argument("directory")
    parser.add_argument("--ramp-seconds", type=float, required=True)
    args = parser.parse_args()
    target = os.path.join(args.directory, "fill")
    os.makedirs(target, exist_ok=True)
    stat = os.statvfs(args.directory)
    if args.kind == "space":
        # root may use the reserved blocks too: count free, not available
        total = max(1, stat.f_bfree * stat.f_frsize // MIB)
    else:
        total = max(1, stat.f_ffree)
    pause = args.ramp_seconds / total
    block = b"\0" * MIB
    started = time.monotonic()
    count = 0
    try:
        while True:
            path = os.path.join(target, f"f{count}")
            with open(path, "wb") as handle:
                if args.kind == "space":
                    handle.write(block)
                    handle.flush()
                    os.fsync(handle.fileno())
            count += 1
            time.sleep(max(0.0, started + count * pause - time.monotonic()))
    except OSError as error:
        print(f"fill: {args.kind} of {args.directory} exhausted after {count}: {error}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
