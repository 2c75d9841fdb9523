#!/bin/bash
# Runs once inside the host container before the agents start: the peer namespace for the
# network flood, a user for the fork loop, the offline package repository for the apt job, and
# (with "background") the ordinary activity of a quiet host as systemd timers.
set -euo pipefail
background=${1:-}

# podman's plumbing: files bind-mounted from the machine's disk, which a VM does not have and
# which would show that shared disk's usage as file systems of this host. Keep their content.
for file in /etc/hostname /etc/hosts /etc/resolv.conf /run/.containerenv; do
    if mountpoint -q "$file"; then
        content=$(cat "$file")
        umount "$file"
        printf '%s\n' "$content" >"$file"
    fi
done

# flood0 <-> a peer namespace inside this container (the flood never leaves it)
if ! ip link show flood0 >/dev/null 2>&1; then
    ip netns add bench-peer
    ip link add flood0 type veth peer name peer0
    ip link set peer0 netns bench-peer
    ip addr add 192.168.251.1/30 dev flood0
    ip link set flood0 up
    ip netns exec bench-peer ip addr add 192.168.251.2/30 dev peer0
    ip netns exec bench-peer ip link set peer0 up
    ip netns exec bench-peer ip link set lo up
fi

id benchfork >/dev/null 2>&1 || useradd --system --uid 4242 --shell /bin/bash --no-create-home benchfork

if [ "$background" = background ]; then
    # apt's package lists from a local repository: a real `apt-get update` that needs no network
    mkdir -p /srv/bench-repo
    cp /var/lib/dpkg/status /srv/bench-repo/Packages
    echo "deb [trusted=yes] file:/srv/bench-repo ./" >/etc/apt/bench-local.list
    install -m 0644 /opt/faults/units/bench-app.logrotate /etc/logrotate.d/bench-app
    cp /opt/faults/units/*.service /opt/faults/units/*.timer /etc/systemd/system/
    systemctl daemon-reload
    systemctl enable --now bench-app.service bench-backup.timer bench-logrotate.timer bench-apt.timer
fi
