#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: system packages, virtualenv, then pytest,
# which runs the linters, unit and integration tests, and the Molecule scenarios on podman.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not needs_podman" or -k config
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
