#!/usr/bin/env bash
# The Kubernetes deliverables end to end, from a fresh Debian 12 machine: Debian packages (podman,
# runc, debootstrap) when missing, the Python tools (requirements-ansible.txt + requirements-k8s.txt,
# into the Python on PATH: put the repo's venv first), the Debian base image and the agent image
# (both cached by tag), yamllint, ansible-lint, hadolint, then `molecule test -s kubernetes`
# (render both workload modes, schemas, checkov, Pod Security Standards, podman kube play +
# testinfra, a signed webhook alert from the pod). Exits non-zero on any
# failure. Run from anywhere; needs root (debootstrap, rootful podman).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# catatonit: podman kube play builds its pause image with it (Recommends, not Depends, of podman).
apt_packages=(podman catatonit runc debootstrap ca-certificates)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "test-molecule-kubernetes: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q -r requirements-ansible.txt -r requirements-k8s.txt

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
