#!/usr/bin/env bash
# Prepare this machine for the agent (--runtime) or for the whole test suite (default):
# Debian packages the tests use (only when missing), and the project's virtualenv in .venv.
# Safe to re-run: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-test}
venv=${AIOPS_VENV:-.venv}
runtime_packages=(python3 python3-venv)
test_packages=(
    podman runc debootstrap uidmap slirp4netns fuse-overlayfs iproute2 openssl ca-certificates
    prometheus prometheus-alertmanager prometheus-node-exporter wrk fuse3 curl git make
)

apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        return 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if command -v dpkg-query >/dev/null; then
    if [ "$mode" = "--runtime" ]; then
        python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
            || apt_install "${runtime_packages[@]}"
    else
        apt_install "${runtime_packages[@]}" "${test_packages[@]}"
    fi
fi

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
if [ "$mode" = "--runtime" ]; then
    "$venv/bin/python" -m pip install -q -e .
else
    "$venv/bin/python" -m pip install -q -e '.[test,notify,web]' \
        -r requirements-ansible.txt $( [ -f requirements-k8s.txt ] && echo "-r requirements-k8s.txt" )
fi
echo "setup: ready ($venv)" >&2
