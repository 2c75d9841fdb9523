#!/bin/bash
# Processes stuck in D state on a hung file system: hangfs.py (a FUSE server that never answers
# statfs, like a dead NFS server) on $1, then $2 processes calling statfs on it. The server
# refuses interrupts, so once the first caller has been interrupted the kernel waits for every
# caller uninterruptibly (D state). Stopping the unit kills hangfs, which aborts the connection:
# the callers get ENOTCONN and exit.
set -u
mnt=$1 count=$2
mkdir -p "$mnt"
python3 /opt/faults/hangfs.py --no-interrupt "$mnt" &
for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
python3 -c 'import os, signal, sys
signal.signal(signal.SIGUSR1, lambda *_: None)
os.statvfs(sys.argv[1])' "$mnt" &
first=$!
sleep 0.5
kill -USR1 "$first"
for _ in $(seq $((count - 1))); do stat -f "$mnt" >/dev/null 2>&1 & done
wait
