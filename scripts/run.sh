#!/usr/bin/env bash
# Set up a virtualenv for the agent and run it in the foreground with default settings.
# Extra arguments go to `aiops-agent run`, e.g. scripts/run.sh --config my.yaml --log-format text
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --runtime
exec .venv/bin/aiops-agent run "$@"
