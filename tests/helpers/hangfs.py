"""A FUSE file system whose statfs never answers: a stand-in for a hung NFS server, to prove that
statvfs on an unresponsive mount does not stall the agent. Pure Python over /dev/fuse (no libfuse,
no fusepy): it answers INIT, GETATTR and anything else with ENOSYS, and keeps every STATFS request
pending until it is killed, when the kernel aborts the connection and the stuck callers get
ENOTCONN. Needs root (mount(2)).

    python -m tests.helpers.hangfs [--no-interrupt] MOUNTPOINT [LOG]   # prints "ready" once mounted

With LOG, every STATFS request appends a line "statfs PID" to it, so a test can count how often a
caller tried the hung mount.

With --no-interrupt it refuses FUSE_INTERRUPT (ENOSYS), as a server that cannot cancel requests
does; the kernel then stops interrupting and waits for answers uninterruptibly, so the callers sit
in D state (killable, like a hard NFS mount): bench/faults uses that for its D-state fault.

Stop it with SIGTERM, then `umount -l MOUNTPOINT`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import signal
import struct
import sys
from typing import NoReturn

FUSE_GETATTR, FUSE_STATFS, FUSE_INIT, FUSE_INTERRUPT, FUSE_DESTROY = 3, 17, 26, 36, 38
IN_HEADER = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid total_extlen pad
OUT_HEADER = struct.Struct("<IiQ")  # len error unique
INIT_IN = struct.Struct("<IIII")  # major minor max_readahead flags
# major minor max_readahead flags max_background congestion_threshold max_write time_gran
# max_pages map_alignment flags2 unused[7]
INIT_OUT = struct.Struct("<IIIIHHIIHHI28x")
# attr_valid attr_valid_nsec dummy, then fuse_attr: ino size blocks atime mtime ctime atimensec
# mtimensec ctimensec mode nlink uid gid rdev blksize flags
ATTR_OUT = struct.Struct("<QII" + "QQQQQQIIIIIIIIII")
MS_NOSUID, MS_NODEV = 2, 4


def _reply(fd: int, unique: int, error: int = 0, body: bytes = b"") -> None:
    # OSError: the request was interrupted meanwhile and the kernel no longer wants an answer.
    with contextlib.suppress(OSError):
        os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), -error, unique) + body)


def serve(mountpoint: str, log: str = "", refuse_interrupts: bool = False) -> NoReturn:
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    if libc.mount(b"hangfs", mountpoint.encode(), b"fuse.hangfs", MS_NOSUID | MS_NODEV, options):
        number = ctypes.get_errno()
        sys.exit(f"mount {mountpoint}: {os.strerror(number)}")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # closing /dev/fuse aborts the mount
    print("ready", flush=True)
    while True:
        try:
            request = os.read(fd, 1 << 20)
        except OSError as error:
            if error.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                continue
            os._exit(0)  # ENODEV: unmounted
        _length, opcode, unique, nodeid, *_ = IN_HEADER.unpack_from(request)
        if opcode == FUSE_INIT:
            _major, minor, readahead, _flags = INIT_IN.unpack_from(request, IN_HEADER.size)
            body = INIT_OUT.pack(7, min(minor, 31), readahead, 0, 16, 12, 65536, 1, 16, 0, 0)
            _reply(fd, unique, body=body)
        elif opcode == FUSE_GETATTR:
            mode = 0o040755  # the root directory
            attr = ATTR_OUT.pack(1, 0, 0, nodeid, 0, 0, 0, 0, 0, 0, 0, 0, mode, 2, 0, 0, 0, 4096, 0)
            _reply(fd, unique, body=attr)
        elif opcode == FUSE_STATFS:
            if log:  # never answered (this is the hang), but counted
                caller = IN_HEADER.unpack_from(request)[6]
                with open(log, "a", encoding="ascii") as handle:
                    handle.write(f"statfs {caller}\n")
        elif opcode == FUSE_INTERRUPT and refuse_interrupts:
            _reply(fd, unique, error=errno.ENOSYS)
        elif opcode in (FUSE_INTERRUPT, FUSE_DESTROY):
            pass  # no reply expected
        else:
            _reply(fd, unique, error=errno.ENOSYS)


if __name__ == "__main__":
    refuse = "--no-interrupt" in sys.argv[1:]
    positional = [a for a in sys.argv[1:] if a != "--no-interrupt"]
    serve(positional[0], positional[1] if len(positional) > 1 else "", refuse_interrupts=refuse)
