# shellcheck shell=bash
# Source this before running podman in the project's tests. On a normal workstation it changes
# nothing. On hosts where podman's defaults cannot work (crun on a hybrid cgroup hierarchy, or
# default rlimits above the hard limits), it points CONTAINERS_CONF at a project-local file that
# selects runc and lowers the default ulimits. Nothing under /etc is modified.
_aiops_podman_conf() {
    local cache_dir="${AIOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aiops-agent}"
    local hard_nofile hard_nproc runtime_line="" ulimits=()
    hard_nofile=$(ulimit -Hn)
    hard_nproc=$(ulimit -Hu)
    # cgroup v1 or hybrid: /sys/fs/cgroup is a tmpfs of controllers; crun refuses hybrid mode.
    if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = "tmpfs" ] && command -v runc >/dev/null; then
        runtime_line='runtime = "runc"'
    fi
    if [ "$hard_nofile" != "unlimited" ] && [ "$hard_nofile" -lt 1048576 ]; then
        ulimits+=("\"nofile=${hard_nofile}:${hard_nofile}\"")
    fi
    if [ "$hard_nproc" != "unlimited" ] && [ "$hard_nproc" -lt 4194304 ]; then
        local nproc=$((hard_nproc < 32768 ? hard_nproc : 32768))
        ulimits+=("\"nproc=${nproc}:${nproc}\"")
    fi
    if [ -z "$runtime_line" ] && [ ${#ulimits[@]} -eq 0 ]; then
        return 0
    fi
    mkdir -p "$cache_dir"
    local conf="$cache_dir/containers.conf"
    {
        echo "# written by aiops-agent scripts/podman-env.sh for this host's limits"
        echo "[containers]"
        if [ ${#ulimits[@]} -gt 0 ]; then
            local IFS=,
            echo "default_ulimits = [${ulimits[*]}]"
        fi
        echo "[engine]"
        [ -n "$runtime_line" ] && echo "$runtime_line"
    } >"$conf"
    export CONTAINERS_CONF="$conf"
    # The ulimits molecule passes to its containers must fit the same limits.
    AIOPS_PODMAN_ULIMITS="${ulimits[*]//\"/}"
    export AIOPS_PODMAN_ULIMITS
}
_aiops_podman_conf
unset -f _aiops_podman_conf
