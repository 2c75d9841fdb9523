#!/usr/bin/env bash
# compose.yaml's topology on this machine without a container registry: the agent (the locally
# built image localhost/aiops-agent:<version> under podman, or the venv's aiops-agent when that
# image is not built), Prometheus and Alertmanager from Debian's packages, and the webhook sink
# (deploy/webhook_sink.py), all on loopback, with the same configuration files (deploy/, mixin/).
#
#   scripts/stack.sh up       start (timed); waits until Prometheus scrapes the agent and the
#                             agent's StackCheck alert reaches the sink through Alertmanager;
#                             prints the URLs
#   scripts/stack.sh status   each part: running or not, and the URLs
#   scripts/stack.sh down     stop everything it started
#
# Environment: AIOPS_STACK_DIR (state, logs; default .stack/ in the repository),
# AIOPS_STACK_AGENT=auto|image|venv (default auto: the image if built), and the loopback ports
# AIOPS_STACK_AGENT_PORT (19877), AIOPS_STACK_PROMETHEUS_PORT (19090),
# AIOPS_STACK_ALERTMANAGER_PORT (19093), AIOPS_STACK_SINK_PORT (19094).
# Grafana is not started: it is not packaged for Debian (its licence, AGPL, keeps it out of
# bookworm); compose.yaml runs it where a registry is reachable, or import mixin/dashboards_out/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
# shellcheck source=podman-env.sh
source "$here/podman-env.sh"
dir="${AIOPS_STACK_DIR:-$repo/.stack}"
agent_port="${AIOPS_STACK_AGENT_PORT:-19877}"
prometheus_port="${AIOPS_STACK_PROMETHEUS_PORT:-19090}"
alertmanager_port="${AIOPS_STACK_ALERTMANAGER_PORT:-19093}"
sink_port="${AIOPS_STACK_SINK_PORT:-19094}"
container="aiops-stack-agent-$(printf '%s' "$dir" | sha256sum | cut -c1-8)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)"
image="localhost/aiops-agent:$version"
parts=(sink alertmanager agent prometheus)

die() { echo "stack: $*" >&2; exit 1; }

pid_of() { cat "$dir/$1.pid" 2>/dev/null || true; }

running() {
    local pid
    if [ "$1" = agent ] && [ "$(cat "$dir/agent.mode" 2>/dev/null)" = image ]; then
        [ "$(podman container inspect --format '{{.State.Running}}' "$container" 2>/dev/null)" = true ]
        return
    fi
    pid="$(pid_of "$1")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Start a program in the background, its output in $dir/NAME.log, its pid in $dir/NAME.pid.
start() {
    local name="$1"
    shift
    setsid "$@" </dev/null >"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
}

# Poll until the command succeeds, up to $1 seconds; else fail naming $2 and its log.
wait_until() {
    local timeout="$1" what="$2" log="$3"
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "stack: $what: not within ${timeout}s; the end of $log:" >&2
            tail -n 20 "$log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
}

agent_mode() {
    case "${AIOPS_STACK_AGENT:-auto}" in
        image) podman image exists "$image" || die "$image is not built: molecule/kubernetes/build-image.sh"
               echo image ;;
        venv) echo venv ;;
        auto) if command -v podman >/dev/null && podman image exists "$image" 2>/dev/null; then
                  echo image
              else
                  echo venv
              fi ;;
        *) die "AIOPS_STACK_AGENT must be auto, image or venv, not '${AIOPS_STACK_AGENT}'" ;;
    esac
}

write_configs() {
    sed -e "s|agent:9877|127.0.0.1:$agent_port|" \
        -e "s|alertmanager:9093|127.0.0.1:$alertmanager_port|" \
        -e "s|localhost:9090|127.0.0.1:$prometheus_port|" \
        -e "s|/etc/prometheus/mixin/|$repo/mixin/|" \
        "$repo/deploy/prometheus.yml" >"$dir/prometheus.yml"
    sed -e "s|http://webhook-sink:9094|http://127.0.0.1:$sink_port|" \
        "$repo/deploy/alertmanager.yml" >"$dir/alertmanager.yml"
    install -m 0644 "$repo/deploy/agent.yaml" "$dir/agent.yaml"
    promtool check config "$dir/prometheus.yml" >"$dir/promtool.log" 2>&1 \
        || die "promtool check config: $(cat "$dir/promtool.log")"
    amtool check-config "$dir/alertmanager.yml" >"$dir/amtool.log" 2>&1 \
        || die "amtool check-config: $(cat "$dir/amtool.log")"
}

start_agent() {
    local mode="$1" listen="127.0.0.1:$agent_port" alertmanager="http://127.0.0.1:$alertmanager_port"
    echo "$mode" >"$dir/agent.mode"
    if [ "$mode" = image ]; then
        podman rm --force --ignore "$container" >/dev/null
        # --no-healthcheck: the image's HEALTHCHECK would need systemd timers; `up` checks instead.
        # The host's processes and file systems, read under /host, as the DaemonSet does (k8s/).
        podman run --detach --name "$container" --network host --pid host --no-healthcheck \
            --volume /:/host:ro,rslave --env AIOPS__AGENT__HOST_ROOT=/host \
            --env ALERTMANAGER_URL="$alertmanager" --env AIOPS__HTTP__LISTEN="$listen" \
            --volume "$dir/agent.yaml:/etc/aiops-agent/config.yaml:ro,Z" \
            "$image" >/dev/null
        ( podman logs --follow "$container" >"$dir/agent.log" 2>&1 & )
    else
        local agent="$repo/.venv/bin/aiops-agent"
        [ -x "$agent" ] || die "$agent is missing: run scripts/setup.sh (or build the image)"
        start agent env ALERTMANAGER_URL="$alertmanager" AIOPS__HTTP__LISTEN="$listen" \
            AIOPS__AGENT__STATE_DIR="$dir/agent-state" \
            "$agent" run --config "$dir/agent.yaml" --log-format json
    fi
}

prometheus_query() {
    curl --silent --fail --get "http://127.0.0.1:$prometheus_port/api/v1/query" \
        --data-urlencode "query=$1" | grep -q '"value":\['
}

urls() {
    cat <<EOF
  agent         http://127.0.0.1:$agent_port/metrics  ($(cat "$dir/agent.mode" 2>/dev/null || echo '?'))
  prometheus    http://127.0.0.1:$prometheus_port
  alertmanager  http://127.0.0.1:$alertmanager_port
  webhook sink  http://127.0.0.1:$sink_port  (received: $dir/received.jsonl)
  grafana       not started: not packaged for Debian (AGPL, not in bookworm); compose.yaml runs it,
                or import mixin/dashboards_out/*.json into your Grafana
EOF
}

up() {
    local started=$SECONDS part mode
    mkdir -p "$dir"
    for part in "${parts[@]}"; do
        running "$part" && die "$part is already running: scripts/stack.sh status, or down first"
    done
    if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
        die "prometheus and prometheus-alertmanager are needed: scripts/setup.sh --system monitoring"
    fi
    mode="$(agent_mode)"
    # A failed start leaves nothing running (the logs stay in $dir).
    trap 'echo "stack: up failed; stopping what it started (logs in $dir)" >&2; down >&2' EXIT
    # Alertmanager starts afresh: its notification log would hold back the StackCheck
    # notification that a previous run already delivered (Prometheus keeps its data).
    rm -rf "$dir/received.jsonl" "$dir/alertmanager-data"
    write_configs
    start sink env WEBHOOK_SINK_LISTEN="127.0.0.1:$sink_port" \
        WEBHOOK_SINK_FILE="$dir/received.jsonl" python3 "$repo/deploy/webhook_sink.py"
    start alertmanager prometheus-alertmanager --config.file="$dir/alertmanager.yml" \
        --storage.path="$dir/alertmanager-data" --cluster.listen-address= \
        --web.listen-address="127.0.0.1:$alertmanager_port"
    start_agent "$mode"
    start prometheus prometheus --config.file="$dir/prometheus.yml" \
        --storage.tsdb.path="$dir/prometheus-data" --storage.tsdb.retention.time=2d \
        --web.listen-address="127.0.0.1:$prometheus_port"
    wait_until 60 "Prometheus ready" "$dir/prometheus.log" \
        curl --silent --fail "http://127.0.0.1:$prometheus_port/-/ready"
    wait_until 60 "Alertmanager ready" "$dir/alertmanager.log" \
        curl --silent --fail "http://127.0.0.1:$alertmanager_port/-/ready"
    wait_until 90 "Prometheus scraping the agent" "$dir/agent.log" \
        prometheus_query 'up{job="aiops-agent"} == 1'
    wait_until 90 "StackCheck at the webhook sink through Alertmanager" "$dir/alertmanager.log" \
        grep -q '"alertname": "StackCheck"' "$dir/received.jsonl"
    trap - EXIT
    echo "stack: up in $((SECONDS - started))s; Prometheus scrapes the agent, and its StackCheck alert reached the webhook sink through Alertmanager"
    urls
}

status() {
    local part state=0
    for part in "${parts[@]}"; do
        if running "$part"; then
            echo "  $part: running"
        else
            echo "  $part: not running"
            state=3
        fi
    done
    urls
    return "$state"
}

down() {
    local part pid
    if [ "$(cat "$dir/agent.mode" 2>/dev/null)" = image ]; then
        podman rm --force --ignore --time 15 "$container" >/dev/null
    fi
    for part in "${parts[@]}"; do
        pid="$(pid_of "$part")"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 40); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.25
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
        rm -f "$dir/$part.pid"
    done
    rm -f "$dir/agent.mode"
    echo "stack: down"
}

case "${1:-}" in
    up) up ;;
    status) status ;;
    down) down ;;
    *) echo "usage: scripts/stack.sh up|status|down" >&2; exit 2 ;;
esac
