#!/usr/bin/env bash
# The role aiops_rulebook on a real Debian 12 systemd host (molecule/rulebook): lint, check mode,
# converge (Java from Debian's mirror, ansible-rulebook from PyPI), idempotence, the service's
# webhook and sandbox, uninstall. Expects a Python venv's bin on PATH with requirements-dev.txt
# (scripts/setup.sh); needs root and the network (apt, PyPI). Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$(dirname "$here")"
start=$SECONDS
step() { echo "== [$((SECONDS - start)) s] $*"; }

# shellcheck source=podman-env.sh
source "$here/podman-env.sh"

step "container image"
"$here/build-images.sh" bookworm

step "yamllint"
yamllint -s roles/aiops_rulebook roles/aiops_remediation playbooks/remediate.yml extensions \
    molecule/rulebook galaxy.yml meta

step "ansible-lint (production profile)"
ansible-lint --offline roles/aiops_rulebook roles/aiops_remediation playbooks/remediate.yml \
    extensions molecule/rulebook

step "molecule test"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
molecule test -s rulebook

step "done in $((SECONDS - start)) s"
