#!/usr/bin/env bash
# The Kubernetes deliverables end to end, from a fresh Debian 12 machine: Debian packages (podman
# and its helpers, via scripts/setup.sh) when missing, the Python tools (requirements-dev.lock,
# into the Python on PATH: put the repo's venv first), the Debian base image and the agent image
# (both cached by tag), yamllint, ansible-lint, hadolint, then `molecule test -s kubernetes`
# (render both workload modes, schemas, checkov, Pod Security Standards, podman kube play +
# testinfra, a signed webhook alert from the pod). Exits non-zero on any
# failure. Run from anywhere; needs root (debootstrap, rootful podman).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# catatonit (podman kube play's pause image) and podman's other helpers come from setup.sh.
scripts/setup.sh --system podman
python3 -m pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock

# shellcheck source=scripts/podman-env.sh
source scripts/podman-env.sh

echo "test-molecule-kubernetes: yamllint, ansible-lint (production profile)" >&2
yamllint -s roles/aiops_k8s k8s/render.yml molecule/kubernetes
ansible-lint --offline roles/aiops_k8s k8s/render.yml molecule/kubernetes

bash molecule/kubernetes/build-image.sh
echo "test-molecule-kubernetes: hadolint Dockerfile" >&2
hadolint Dockerfile

molecule test -s kubernetes
echo "test-molecule-kubernetes: passed in $((SECONDS - started)) s" >&2
