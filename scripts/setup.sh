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
if [ "$mode" != "--runtime" ]; then
    # Event-Driven Ansible for the remediation tests (tests/system/test_remediation_loop.py):
    # ansible-rulebook runs on Java 17+ and lives in a virtualenv of its own, because its pins
    # conflict with checkov's (requirements-eda.txt says which).
    java_version=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    java_version=${java_version#1.}  # Java 8 calls itself 1.8
    if [ "${java_version%%.*}" -lt 17 ] 2>/dev/null || [ -z "$java_version" ]; then
        apt_install openjdk-17-jre-headless
    fi
    eda_venv=${AIOPS_EDA_VENV:-.venv-eda}
    [ -x "$eda_venv/bin/python" ] || python3 -m venv "$eda_venv"
    "$eda_venv/bin/python" -m pip install -q -r requirements-eda.txt
fi
echo "setup: ready ($venv)" >&2
