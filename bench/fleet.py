"""Fleet deployment cost: wall time of playbooks/site.yml on 1, 3 and 10 systemd containers, first
converge and idempotent re-run, over SSH (pipelining, ControlPersist: what fleets use) and over
the podman connection, side by side with prometheus-community's
`prometheus.prometheus.node_exporter` role installing node_exporter on the same hosts, and
`ansible -m ping` (the floor: one connection and one module per host).

Hosts: containers `FLEET_PREFIX-N` (default aiops-bench-fleet) of the shared Debian 12 systemd image
with openssh-server added (image localhost/aiops-bench-sshd:bookworm, built once from
localhost/aiops-debian-systemd:bookworm with apt), on a network of their own, booted fresh for
each repetition, removed afterwards. Each repetition runs: ping; node_exporter's first run and
re-runs; site.yml's first run and re-runs in one batch (`aiops_fleet_serial=100%`); site.yml
re-runs with the default rolling batches. Both roles run from the repository's ansible.cfg
(forks 10, fact subset min, pipelining) with profile_tasks.

node_exporter: NODE_EXPORTER_COLLECTION is the path of a checkout of
github.com/prometheus-community/ansible (nothing of it is in this repository); without it those
columns say "absent". The role downloads a release tarball: the benchmark serves it on loopback,
made from Debian's prometheus-node-exporter binary (/usr/bin/prometheus-node-exporter, 1.5.0), so
both roles install offline.

Each transport and size is measured FLEET_REPS times (2) on fresh hosts, the two roles in
alternating order (the second to run finds a warmer host); the machine is shared and noisy, so
RESULTS.md gives medians of the per-repetition ratios.

Environment: FLEET_SIZES (1,3,10; QUICK=1: 1), FLEET_TRANSPORTS (ssh,podman), FLEET_REPS (2),
RERUN_REPS (2: median of the re-runs), FLEET_PREFIX, NODE_EXPORTER_COLLECTION, NODE_EXPORTER_BIN.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

QUICK = os.environ.get("QUICK", "") not in ("", "0")
SIZES = [int(n) for n in os.environ.get("FLEET_SIZES", "1" if QUICK else "1,3,10").split(",")]
TRANSPORTS = os.environ.get("FLEET_TRANSPORTS", "ssh,podman").split(",")
RERUN_REPS = int(os.environ.get("RERUN_REPS", "2"))
REPS = int(os.environ.get("FLEET_REPS", "2"))
PREFIX = os.environ.get("FLEET_PREFIX", "aiops-bench-fleet")
COLLECTION = os.environ.get("NODE_EXPORTER_COLLECTION", "")
NODE_EXPORTER_BIN = Path(os.environ.get("NODE_EXPORTER_BIN", "/usr/bin/prometheus-node-exporter"))
BASE_IMAGE = "localhost/aiops-debian-systemd:bookworm"
SSH_IMAGE = "localhost/aiops-bench-sshd:bookworm"
LABEL = f"io.aiops-agent.bench-fleet={PREFIX}"
SITE = bl.ROOT / "playbooks" / "site.yml"
VAULT_PASS = bl.ROOT / "inventory.example.vault-pass"
TIMEOUT = 1800
CONTAINERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends openssh-server \\
    && rm -rf /var/lib/apt/lists/* && systemctl enable ssh
"""


@functools.lru_cache(maxsize=1)
def podman_env() -> dict[str, str]:
    """The environment scripts/podman-env.sh sets up (lower ulimits, runc on cgroup v1 hosts)."""
    script = f"source {bl.ROOT / 'scripts' / 'podman-env.sh'} && env -0"
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return dict(e.decode().partition("=")[::2] for e in out.split(b"\0") if b"=" in e)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {result.stderr[-2000:]}")
    return result


def ensure_ssh_image() -> None:
    if podman("image", "exists", SSH_IMAGE, check=False).returncode == 0:
        return
    bl.log(f"fleet: building {SSH_IMAGE} (openssh-server from Debian)")
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Containerfile").write_text(CONTAINERFILE)
        podman("build", "-q", "-t", SSH_IMAGE, context)


def names(count: int) -> list[str]:
    return [f"{PREFIX}-{i}" for i in range(1, count + 1)]


def teardown() -> None:
    found = podman("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}").stdout
    if found.split():
        podman("rm", "-f", "-t", "2", *found.split(), check=False)
    if podman("network", "exists", PREFIX, check=False).returncode == 0:
        podman("network", "rm", PREFIX, check=False)


def boot(count: int, public_key: str) -> dict[str, str]:
    """Fresh hosts, running systemd and sshd with the benchmark's key; their addresses."""
    teardown()
    podman("network", "create", PREFIX)
    for name in names(count):
        podman(
            "run", "-d", "--name", name, "--hostname", name, "--network", PREFIX,
            "--label", LABEL, "--systemd=always", "--cap-add", "SYS_ADMIN",
            "--tmpfs", "/home:rw,size=64m", SSH_IMAGE, "/sbin/init",
        )  # fmt: skip
    addresses = {}
    for name in names(count):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = podman("exec", name, "systemctl", "is-system-running", check=False).stdout
            if state.strip() in ("running", "degraded"):
                break
            time.sleep(0.5)
        podman("exec", name, "sh", "-c",
               f"mkdir -p -m 700 /root/.ssh && echo '{public_key}' > /root/.ssh/authorized_keys"
               " && systemctl start ssh")  # fmt: skip
        addresses[name] = podman(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name
        ).stdout.strip()
    return addresses


def write_inventory(work: Path, transport: str, addresses: dict[str, str]) -> Path:
    """The example inventory's group_vars (a vaulted receiver secret) on these hosts."""
    inventory = work / f"inventory-{transport}"
    shutil.rmtree(inventory, ignore_errors=True)
    inventory.mkdir()
    shutil.copytree(bl.ROOT / "inventory.example" / "group_vars", inventory / "group_vars")
    hosts: dict[str, Any] = {}
    for name, address in addresses.items():
        if transport == "ssh":
            hosts[name] = {"ansible_host": address, "ansible_user": "root"}
        else:
            hosts[name] = {"ansible_connection": "containers.podman.podman"}
    document = {
        "all": {
            "vars": {"ansible_python_interpreter": "/usr/bin/python3"},
            "children": {"aiops_agents": {"children": {"web": {"hosts": hosts}}}},
        }
    }
    (inventory / "hosts.yml").write_text(json.dumps(document, indent=1))
    return inventory


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the benchmark's output."""


def node_exporter_server(work: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """The release tarball and sha256sums.txt node_exporter's role downloads, on loopback."""
    version = "1.5.0"
    name = f"node_exporter-{version}.linux-amd64"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{name}/node_exporter")
        data = NODE_EXPORTER_BIN.read_bytes()
        info.size, info.mode = len(data), 0o755
        archive.addfile(info, io.BytesIO(data))
    served = work / "node_exporter-release"
    served.mkdir(exist_ok=True)
    (served / f"{name}.tar.gz").write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    (served / "sha256sums.txt").write_text(f"{digest}  {name}.tar.gz\n")
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", bl.free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def node_exporter_playbook(work: Path, url: str) -> Path:
    collections = work / "collections" / "ansible_collections" / "prometheus"
    collections.mkdir(parents=True, exist_ok=True)
    link = collections / "prometheus"
    if not link.exists():
        link.symlink_to(Path(COLLECTION).resolve())
    playbook = work / "node_exporter.yml"
    play = {
        "name": "Deploy node_exporter (prometheus.prometheus.node_exporter)",
        "hosts": "aiops_agents",
        "become": True,
        "vars": {
            "node_exporter_version": "1.5.0",
            "node_exporter_binary_url": f"{url}/node_exporter-1.5.0.linux-amd64.tar.gz",
            "node_exporter_checksums_url": f"{url}/sha256sums.txt",
        },
        "roles": ["prometheus.prometheus.node_exporter"],
    }
    playbook.write_text(json.dumps([play], indent=1))
    return playbook


def ansible_env(work: Path, key: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_PRIVATE_KEY_FILE": str(key),
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s "
        "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
        "ANSIBLE_COLLECTIONS_PATH": str(work / "collections")
        + os.pathsep
        + os.path.expanduser("~/.ansible/collections"),
        "CONTAINERS_CONF": podman_env().get("CONTAINERS_CONF", ""),
    }


_TASK_TIME = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)


def slowest_tasks(text: str) -> list[dict[str, Any]]:
    tail = text[text.rfind("TASKS RECAP") :]
    rows = [{"task": t.strip(), "s": float(v)} for t, v in _TASK_TIME.findall(tail)]
    return sorted(rows, key=lambda r: -r["s"])[:6]


def recap(text: str) -> dict[str, int]:
    totals = {"changed": 0, "failed": 0, "ok": 0}
    for line in re.findall(r"^\S+\s+:\s+(ok=.*)$", text, re.M):
        for key, value in re.findall(r"(\w+)=(\d+)", line):
            if key in totals:
                totals[key] += int(value)
            if key == "unreachable":
                totals["failed"] += int(value)
    return totals


def timed(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(
        cmd, cwd=bl.ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    text = out.stdout + out.stderr
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(cmd)}  # {seconds:.1f}s rc={out.returncode}\n{text}")
    return {"s": round(seconds, 2), "rc": out.returncode, **recap(text),
            "slowest": slowest_tasks(text)}  # fmt: skip


def first_and_reruns(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    first = timed(cmd, env, log)
    reruns = [timed(cmd, env, log) for _ in range(RERUN_REPS)]
    return {"first": first, "reruns": reruns, "rerun_s": bl.median([r["s"] for r in reruns])}


def warm_wheelhouse(log: Path) -> None:
    """The controller's wheelhouse as after an earlier deployment (the role's default directory,
    the Debian 12 image's Python): first runs measure the hosts, not one download from PyPI."""
    role_files = bl.ROOT / "roles" / "aiops_agent" / "files"
    out = subprocess.run(
        [sys.executable, str(role_files / "build_wheelhouse.py"), "--wheelhouse",
         str(bl.ROOT / "wheelhouse"), "--lock", str(bl.ROOT / "requirements-runtime.lock"),
         "--source", str(bl.ROOT), "--target", f"3.11:{platform.machine()}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n$ build_wheelhouse.py rc={out.returncode}\n{out.stdout}{out.stderr}")


def one_point(
    transport: str, count: int, work: Path, key: Path, *, rep: int, url: Optional[str], log: Path
) -> dict[str, Any]:
    """One repetition on fresh hosts: both roles' first run and re-runs (which role goes first
    alternates between repetitions), then site.yml's re-runs in rolling batches."""
    public_key = key.with_suffix(".pub").read_text().strip()
    inventory = write_inventory(work, transport, boot(count, public_key))
    env = ansible_env(work, key)
    inv = ["-i", str(inventory), "--vault-password-file", str(VAULT_PASS)]
    point: dict[str, Any] = {"transport": transport, "hosts": count, "rep": rep}
    point["ping_s"] = timed(["ansible", *inv, "all", "-m", "ansible.builtin.ping"], env, log)["s"]
    plays = {"aiops": ["ansible-playbook", *inv, str(SITE), "-e", "aiops_fleet_serial=100%"]}
    if url:
        plays["node_exporter"] = ["ansible-playbook", *inv, str(node_exporter_playbook(work, url))]
    order = list(plays) if rep % 2 == 0 else list(reversed(plays))
    for name in order:
        bl.log(f"fleet: {transport}, {count} host(s): {name}")
        point[name] = first_and_reruns(plays[name], env, log)
    bl.log(f"fleet: {transport}, {count} host(s): site.yml re-run, default rolling batches")
    rolling = [timed(plays["aiops"][:-2], env, log) for _ in range(RERUN_REPS)]
    point["aiops_rolling"] = {"reruns": rolling, "rerun_s": bl.median([r["s"] for r in rolling])}
    point["order"] = order
    return point


def collection_version() -> str:
    galaxy = (Path(COLLECTION) / "galaxy.yml").read_text(encoding="utf-8")
    match = re.search(r"^version:\s*['\"]?([^'\"\s]+)", galaxy, re.M)
    return f"collection {match.group(1)}" if match else "collection (version unknown)"


def main() -> int:
    document: dict[str, Any] = {
        "benchmark": "fleet", "quick": QUICK, "machine": bl.machine(), "git": bl.git_head(),
        "rerun_reps": RERUN_REPS,
    }  # fmt: skip
    if not shutil.which("podman") or not shutil.which("ansible-playbook"):
        document.update(status="skipped", reason="podman or ansible-playbook is not on PATH")
        bl.write_json("fleet.json", document)
        return 0
    have_collection = bool(COLLECTION) and (Path(COLLECTION) / "roles" / "node_exporter").is_dir()
    document["node_exporter"] = (
        f"prometheus-community/ansible {collection_version()}"
        if have_collection
        else "absent: set NODE_EXPORTER_COLLECTION to a checkout of "
        "github.com/prometheus-community/ansible to measure it side by side"
    )
    if not have_collection:
        bl.log(f"fleet: node_exporter role {document['node_exporter']}")
    bl.OUT.mkdir(parents=True, exist_ok=True)
    log = bl.OUT / "fleet.log"
    log.write_text("")
    ensure_ssh_image()
    warm_wheelhouse(log)
    points: list[dict[str, Any]] = []
    document["status"] = "ok"
    with tempfile.TemporaryDirectory(prefix="aiops-bench-fleet-") as tmp:
        work = Path(tmp)
        (work / "cp").mkdir()
        key = work / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        server, url = node_exporter_server(work) if have_collection else (None, None)
        try:
            for transport in TRANSPORTS:
                for count in SIZES:
                    for rep in range(REPS):
                        bl.log(f"fleet: {transport}, {count} host(s), repetition {rep + 1}")
                        points.append(
                            one_point(transport, count, work, key, rep=rep, url=url, log=log)
                        )
                    document["points"] = points
                    bl.write_json("fleet.json", document)
        finally:
            teardown()
            if server:
                server.shutdown()
    bl.log(f"wrote {bl.write_json('fleet.json', document)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
