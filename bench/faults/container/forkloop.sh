#!/bin/bash
# A runaway fork loop, bounded: every process forks two more and waits, until the user's process
# limit (RLIMIT_NPROC, set by the caller) refuses forks; bash then retries each failed fork.
# shellcheck disable=SC2264 # the unbounded recursion is the fault being injected
f() { f & f & wait; }
f
