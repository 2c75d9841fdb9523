#!/usr/bin/env bash
# Build a minimal Debian 12 image with Python 3 for the Dockerfile's BASE_IMAGE, without a
# registry: debootstrap (minbase) into a cache dir outside the repo, then `podman import`.
#
#   scripts/build-python-base.sh [TAG]     # default localhost/aiops-python-base:bookworm
#
# Cached by tag: an existing image is reused (AIOPS_REBUILD_BASE=1 forces a rebuild).
# Needs root (debootstrap) and podman; installs debootstrap if missing.
set -euo pipefail

tag="${1:-localhost/aiops-python-base:bookworm}"
suite="${AIOPS_BASE_SUITE:-bookworm}"
mirror="${AIOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache_dir="${AIOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aiops-agent}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/podman-env.sh
source "$here/podman-env.sh"

if [ "${AIOPS_REBUILD_BASE:-0}" != 1 ] && podman image exists "$tag"; then
    echo "build-python-base: $tag exists, reusing it"
    exit 0
fi

command -v debootstrap >/dev/null || "$here/setup.sh" --system podman

mkdir -p "$cache_dir"
rootfs="$(mktemp -d "$cache_dir/python-base.XXXXXX.rootfs")"
trap 'rm -rf "$rootfs"' EXIT

echo "build-python-base: debootstrap $suite into $rootfs"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip \
    "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2
    exit 1
}
rm -f "$rootfs.log"

# Trim what an image does not need: package lists, caches, docs, man pages.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*

tar -C "$rootfs" --numeric-owner -c . | podman import \
    --change 'CMD ["/usr/bin/python3"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --message "debootstrap --variant=minbase $suite + python3, python3-venv, python3-pip" \
    - "$tag"
echo "build-python-base: built $tag"
