"""A file-descriptor leak: open /dev/null at a steady rate until the process's own limit
(RLIMIT_NOFILE) refuses more (EMFILE, "Too many open files"), then hold them until killed.

    python3 fdleak.py --ramp-seconds 60
"""

import argparse
import os
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ramp-seconds", type=float, required=True)
    args = parser.parse_args()
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    pause = args.ramp_seconds / limit
    held = []
    started = time.monotonic()
    while True:
        try:
            held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as error:
            print(f"fdleak: {len(held)} descriptors open, then {error}", flush=True)
            break
        if len(held) % 256 == 0:
            time.sleep(max(0.0, started + len(held) * pause - time.monotonic()))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
