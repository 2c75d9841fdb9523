#!/usr/bin/env bash
# Score PatternDetector (and BaselineDetector for comparison) on the NAB dev split
# with nabkit and write bench/nab/results.json and bench/nab/RESULTS.md.
#   NAB_DIR   (required) directory holding nabkit.py, data/, labels.json,
#             profiles.json and published_dev.json
#   JOBS      nabkit worker processes (default 2)
#   PYTHON    interpreter (default python3)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${NAB_DIR:-}" ] || [ ! -f "${NAB_DIR}/nabkit.py" ]; then
    cat >&2 <<MSG
run.sh: set NAB_DIR to a nabkit directory (found: '${NAB_DIR:-<unset>}').
  It must hold nabkit.py (a standalone NAB-compatible scorer), data/ and labels.json
  (NAB v1.1's realAWSCloudwatch, realKnownCause and artificialNoAnomaly files, from
  https://github.com/numenta/NAB), profiles.json and published_dev.json.  Ask the
  project's developers for the nabkit bundle, then: NAB_DIR=/path/to/nab $0
MSG
    exit 2
fi
nab="$(cd "$NAB_DIR" && pwd)"
"${PYTHON:-python3}" "$here/report.py" "$nab" --jobs "${JOBS:-2}"
