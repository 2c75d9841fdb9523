#!/usr/bin/env bash
# Build the systemd container images the Molecule scenario and scripts/fleet.sh run, from Debian's
# mirror (no registry is needed): debootstrap a minimal rootfs with systemd and Python into a cache
# dir outside the repo, then `podman import` it as localhost/aiops-debian-systemd:<suite>.
# An existing tag is reused; pass --force to rebuild. Usage: build-images.sh [--force] [SUITE...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=podman-env.sh
source "$here/podman-env.sh"

image="${AIOPS_IMAGE:-localhost/aiops-debian-systemd}"
mirror="${AIOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache_dir="${AIOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aiops-agent}/images"
force=0
suites=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) suites+=("$arg") ;;
    esac
done
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)

# podman, runc, debootstrap and debian-archive-keyring (trixie's keyring is in bookworm's
# debian-archive-keyring 2023.3+deb12u1 and later), only where missing.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null \
    || ! command -v debootstrap >/dev/null || [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    "$here/setup.sh" --system podman
    # podman-env.sh decides on runc only when runc exists: source it again after installing.
    source "$here/podman-env.sh"
fi

packages=systemd,systemd-sysv,dbus,python3,python3-venv,python3-apt,iproute2,procps,ca-certificates,curl,sudo

build() {
    local suite="$1" tag="$image:$1"
    if [ "$force" = 0 ] && podman image exists "$tag"; then
        echo "build-images: $tag exists, reusing it"
        return 0
    fi
    mkdir -p "$cache_dir"
    local rootfs="$cache_dir/$suite.rootfs" start=$SECONDS
    rm -rf "$rootfs"
    echo "build-images: debootstrap $suite into $rootfs (about a minute)"
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
        >"$cache_dir/$suite.log" 2>&1; then
        tail -n 30 "$cache_dir/$suite.log" >&2
        echo "build-images: debootstrap $suite failed (log: $cache_dir/$suite.log)" >&2
        return 1
    fi
    # A container, not a machine: no getty, no units that need hardware or the kernel's consent.
    chroot "$rootfs" systemctl mask getty.target console-getty.service systemd-udevd.service \
        systemd-udev-trigger.service systemd-modules-load.service sys-kernel-debug.mount \
        sys-kernel-tracing.mount sys-kernel-config.mount systemd-remount-fs.service \
        systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
    rm -f "$rootfs/etc/machine-id" && touch "$rootfs/etc/machine-id"
    echo "container=podman" >"$rootfs/etc/environment"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -c . |
        podman import -q --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$tag" >/dev/null
    rm -rf "$rootfs"
    echo "build-images: built $tag in $((SECONDS - start)) s"
}

for suite in "${suites[@]}"; do
    build "$suite"
done
