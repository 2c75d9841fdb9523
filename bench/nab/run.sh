#!/usr/bin/env bash
# Score BaselineDetector (shipped defaults) on the NAB dev split with nabkit and
# write bench/nab/results.json and bench/nab/RESULTS.md.
#   NAB_DIR   nabkit directory; default ../shared/nab relative to the repo root
#   JOBS      nabkit worker processes (default 2)
#   PYTHON    interpreter (default python3)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
nab="${NAB_DIR:-../shared/nab}"
if [ ! -f "$nab/nabkit.py" ]; then
    echo "run.sh: nabkit not found: $nab/nabkit.py (set NAB_DIR; relative paths are from $root)" >&2
    exit 2
fi
"${PYTHON:-python3}" "$here/report.py" "$nab" --jobs "${JOBS:-2}"
