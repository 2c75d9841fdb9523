#!/usr/bin/env bash
# Lint the Ansible content and run the Molecule scenario molecule/default (role aiops_agent on
# Debian 12 and 13 systemd containers, one without network) from a fresh Debian 12 machine.
# Expects a Python venv's bin on PATH (the caller creates it); installs requirements-dev.lock
# (hashed) into it, the Debian packages podman needs (scripts/setup.sh, only if missing) and the images.
# Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"
start=$SECONDS
step() { echo "== [$((SECONDS - start)) s] $*"; }

step "Debian packages (podman and its helpers)"
# Testinfra runs `podman exec`; the role's checks need nothing else on the controller.
"$here/setup.sh" --system podman

step "pip install --require-hashes -r requirements-dev.lock"
python3 -m pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock

# shellcheck source=podman-env.sh
source "$here/podman-env.sh"

step "container images"
"$here/build-images.sh" bookworm trixie

step "yamllint"
yamllint -s roles/aiops_agent roles/aiops_agent_config playbooks inventory.example molecule/default \
    .yamllint .ansible-lint

step "ansible-lint (production profile)"
ansible-lint --offline roles/aiops_agent roles/aiops_agent_config playbooks molecule/default

step "argument_specs match defaults"
python3 -m pytest -q -p no:cacheprovider tests/unit/test_role_argument_specs.py

step "molecule test"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
molecule test -s default

step "done in $((SECONDS - start)) s"
