#!/usr/bin/env bash
# A fleet of systemd containers on this machine, deployed with playbooks/site.yml like real hosts
# (podman connection: no SSH). Hosts alternate Debian 12 and 13 and the example inventory's
# groups (web, db), whose group_vars (and vaulted receiver secret) they use.
#
#   scripts/fleet.sh up [N]     boot N hosts (default 3), deploy (timed), re-run (idempotence,
#                               timed), print each host's /healthz
#   scripts/fleet.sh deploy     re-run the deployment against the running fleet
#   scripts/fleet.sh status     each host's /healthz
#   scripts/fleet.sh down       remove the hosts, their network and inventory
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
# shellcheck source=podman-env.sh
source "$here/podman-env.sh"
cache="${AIOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aiops-agent}"
fleet_dir="$cache/fleet"
network=aiops-fleet
label=io.aiops-agent.fleet=1
image="${AIOPS_IMAGE:-localhost/aiops-debian-systemd}"

die() { echo "fleet: $*" >&2; exit 1; }

ensure_tools() {
    if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
        "$here/setup.sh" --system podman
        source "$here/podman-env.sh"
    fi
    if ! command -v ansible-playbook >/dev/null; then
        local venv="$cache/ansible-venv"
        if [ ! -x "$venv/bin/ansible-playbook" ]; then
            echo "fleet: installing Ansible into $venv"
            python3 -m venv "$venv"
            "$venv/bin/pip" install -q -r "$repo/requirements-deploy.txt"
        fi
        export PATH="$venv/bin:$PATH"
    fi
}

hosts_running() {
    podman ps --filter "label=$label" --format '{{.Names}}' | sort -V
}

write_inventory() {
    local web="" db="" name i=0
    for name in $(hosts_running); do
        i=$((i + 1))
        if [ $((i % 2)) -eq 1 ]; then web+="            $name:"$'\n'; else db+="            $name:"$'\n'; fi
    done
    mkdir -p "$fleet_dir/inventory"
    {
        echo "# written by scripts/fleet.sh"
        echo "all:"
        echo "  vars:"
        echo "    ansible_connection: containers.podman.podman"
        echo "    ansible_python_interpreter: /usr/bin/python3"
        echo "  children:"
        echo "    aiops_agents:"
        echo "      children:"
        echo "        web:"
        if [ -n "$web" ]; then echo "          hosts:"; printf '%s' "$web"; fi
        echo "        db:"
        if [ -n "$db" ]; then echo "          hosts:"; printf '%s' "$db"; fi
    } >"$fleet_dir/inventory/hosts.yml"
    rm -rf "$fleet_dir/inventory/group_vars"
    cp -r "$repo/inventory.example/group_vars" "$fleet_dir/inventory/group_vars"
}

deploy() {
    write_inventory
    local start=$SECONDS log="$fleet_dir/deploy.log"
    echo "fleet: ansible-playbook playbooks/site.yml against $(hosts_running | wc -l) host(s) (log: $log)"
    (cd "$repo" && ansible-playbook -i "$fleet_dir/inventory" \
        --vault-password-file "$repo/inventory.example.vault-pass" playbooks/site.yml "$@") >"$log" 2>&1 ||
        { tail -n 40 "$log"; die "deployment failed (log: $log)"; }
    echo "fleet: deployed in $((SECONDS - start)) s; $(recap "$log")"
}

recap() {
    awk '/PLAY RECAP/{p=1;next} p && /ok=/{print $1, $3, $4, $6}' "$1" | tr '\n' ';' | sed 's/;$//'
}

status() {
    local name
    for name in $(hosts_running); do
        printf '%s %s\n' "$name" "$(podman exec "$name" curl -s -m 5 http://127.0.0.1:9877/healthz || echo unreachable)"
    done
}

up() {
    local count="${1:-3}" i name suite
    [[ "$count" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not $count"
    ensure_tools
    "$here/build-images.sh" bookworm trixie
    # Internal: the fleet reaches nothing beyond this machine (the deployment needs no network).
    podman network exists "$network" || podman network create --internal "$network" >/dev/null 2>&1
    for i in $(seq 1 "$count"); do
        name="aiops-fleet-$i"
        suite=bookworm
        [ $((i % 2)) -eq 0 ] && suite=trixie
        podman container exists "$name" && continue
        podman run -d --name "$name" --hostname "$name" --network "$network" --label "$label" \
            --systemd=always --cap-add SYS_ADMIN --tmpfs /home:rw,size=64m \
            "$image:$suite" /sbin/init >/dev/null
    done
    for name in $(hosts_running); do
        for _ in $(seq 1 60); do
            state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
            [[ "$state" =~ ^(running|degraded)$ ]] && break
            sleep 0.5
        done
    done
    echo "fleet: hosts $(hosts_running | tr '\n' ' ')"
    deploy
    echo "fleet: re-running (idempotence)"
    deploy
    status
}

down() {
    local names=()
    mapfile -t names < <(podman ps -a --filter "label=$label" --format '{{.Names}}')
    [ ${#names[@]} -gt 0 ] && podman rm -f -t 2 "${names[@]}" >/dev/null
    podman network exists "$network" && podman network rm "$network" >/dev/null
    rm -rf "$fleet_dir/inventory"
    echo "fleet: down"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    deploy) shift; ensure_tools; deploy "$@"; status ;;
    status) status ;;
    down) down ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
esac
