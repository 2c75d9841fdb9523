"""The rendered workloads running under `podman kube play` (podman 4.3), the image built from the
repo's Dockerfile, checked from inside the agent's container with testinfra (podman backend).

podman 4.3 runs Pods and Deployments but not DaemonSets, so the DaemonSet's pod template becomes
a Pod: kind and metadata change, and three things podman 4.3 cannot do are stood in for, the rest
of the pod spec passing through untouched:
- the downward API's `fieldPath: spec.nodeName` ("fieldPath spec.nodeName is either not valid or
  not supported"): the env variable gets the value a kubelet would give, NODE_NAME below, and
  test_static.py checks the rendered fieldRef;
- a Kubernetes Secret document cannot be mounted: the rendered Secret's keys are given as a
  ConfigMap of the same name, mounted where the Secret would be (--configmap);
- a test receiver runs as a second container in the pod (the same network namespace, so the
  agent's webhook to 127.0.0.1 stays inside the pod) and prints each request it gets.
The ConfigMaps are given with --configmap."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import testinfra
import yaml
from conftest import EPHEMERAL, RENDERED

UID = 65532
READY_TIMEOUT = 90
ALERT_TIMEOUT = 120
# What a kubelet would put in spec.nodeName, and so the host label of the agent's alerts.
NODE_NAME = "molecule-node-1"
RECEIVER_PORT = 29880  # molecule/kubernetes/converge.yml: the webhook's URL
# The test receiver: one JSON line per request on stdout (headers, and the body in base64 so the
# signature is checked over the exact bytes), answered with 200.
RECEIVER_SCRIPT = f"""import base64, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record = {{"path": self.path, "headers": dict(self.headers.items()),
                   "body": base64.b64encode(body).decode()}}
        sys.stdout.write(json.dumps(record) + "\\n")
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", {RECEIVER_PORT}), Receiver).serve_forever()
"""


class Workload(NamedTuple):
    mode: str
    container: str
    port: int
    host: Any  # testinfra.host.Host
    receiver: str  # the test receiver's container beside the agent, or ""


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], check=False, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {result.stdout}{result.stderr}")
    return result


class _KubeDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks: podman's YAML parser rejects PyYAML's folded
    double-quoted form of the receiver's script."""


_KubeDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def kube_yaml(mode: str) -> Path:
    """The file given to `podman kube play` for this mode."""
    (workload,) = yaml.safe_load_all((RENDERED / mode / f"{mode}.yaml").read_text())
    if mode == "daemonset":
        template = workload["spec"]["template"]
        spec = template["spec"]
        agent = spec["containers"][0]
        for variable in agent.get("env", []):
            field = variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if field == "spec.nodeName":
                variable.pop("valueFrom")
                variable["value"] = NODE_NAME
        for volume in spec["volumes"]:
            if "secret" in volume:
                secret = volume.pop("secret")
                volume["configMap"] = {"name": secret["secretName"]}
        receiver = {
            "name": "receiver",
            "image": agent["image"],
            "command": ["python3", "-c", RECEIVER_SCRIPT],
            "securityContext": agent["securityContext"],
            "resources": agent["resources"],
        }
        workload = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": workload["metadata"]["name"],
                "namespace": workload["metadata"]["namespace"],
                "labels": template["metadata"]["labels"],
                "annotations": template["metadata"].get("annotations", {}),
            },
            "spec": {**spec, "containers": [agent, receiver]},
        }
    out = EPHEMERAL / "podman" / f"{mode}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.dump(workload, Dumper=_KubeDumper, sort_keys=False))
    return out


def configmaps(mode: str) -> list[Path]:
    """The rendered ConfigMap, and the rendered Secret's keys as a ConfigMap of its name."""
    paths = [RENDERED / mode / "configmap.yaml"]
    secret_path = RENDERED / mode / "secret.yaml"
    if secret_path.exists():
        (secret,) = yaml.safe_load_all(secret_path.read_text())
        standin = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": secret["metadata"],
            "data": secret["stringData"],
        }
        path = EPHEMERAL / "podman" / f"{mode}-secret-as-configmap.yaml"
        path.write_text(yaml.safe_dump(standin, sort_keys=False))
        paths.append(path)
    return paths


def http_get(host: Any, port: int, path: str) -> tuple[int, str]:
    """GET from inside the container with the venv's Python (the image has no curl)."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        f"url = 'http://127.0.0.1:{port}{path}'\n"
        "try:\n"
        "    r = urllib.request.urlopen(url, timeout=10); code, body = r.status, r.read()\n"
        "except urllib.error.HTTPError as e:\n"
        "    code, body = e.code, e.read()\n"
        "sys.stdout.write(str(code) + '\\n' + body.decode())\n"
    )
    result = host.run(f"python3 -c {shlex.quote(script)}")
    assert result.rc == 0, result.stderr
    code, _, body = result.stdout.partition("\n")
    return int(code), body


@pytest.fixture(scope="module", params=["daemonset", "deployment"])
def workload(request: pytest.FixtureRequest) -> Iterator[Workload]:
    mode = request.param
    path = kube_yaml(mode)
    podman("kube", "down", str(path), check=False)
    played = podman("kube", "play", *(f"--configmap={p}" for p in configmaps(mode)), str(path))
    names = {
        podman("inspect", "--format", "{{.Name}}", c).stdout.strip(): c
        # "Pod:\n<id>\nContainer:\n<id>", or "Containers:" and one id a line.
        for c in re.split(r"Containers?:", played.stdout)[-1].split()
    }
    (container,) = [c for name, c in names.items() if name.endswith("-aiops-agent")]
    receiver = next((c for name, c in names.items() if name.endswith("-receiver")), "")
    spec = yaml.safe_load(path.read_text())
    pod = spec["spec"] if mode == "daemonset" else spec["spec"]["template"]["spec"]
    port = pod["containers"][0]["ports"][0]["containerPort"]
    host = testinfra.get_host(f"podman://{container}")
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            state = podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
            assert state == "running", podman("logs", container, check=False).stderr[-3000:]
            try:
                if http_get(host, port, "/readyz")[0] == 200:
                    break
            except AssertionError:
                pass
            assert time.monotonic() < deadline, podman("logs", container, check=False).stderr[
                -3000:
            ]
            time.sleep(1)
        yield Workload(mode, container, port, host, receiver)
    finally:
        podman("kube", "down", str(path), check=False)


def received(workload: Workload) -> list[dict[str, Any]]:
    """The requests the receiver beside the agent has printed so far."""
    lines = podman("logs", workload.receiver).stdout.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def status_fields(workload: Workload) -> dict[str, str]:
    text = workload.host.file("/proc/1/status").content_string
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_agent_is_pid_1_as_uid_65532(workload: Workload) -> None:
    cmdline = workload.host.file("/proc/1/cmdline").content_string.split("\0")
    assert cmdline[1].endswith("/aiops-agent") and cmdline[2] == "run", cmdline
    fields = status_fields(workload)
    assert fields["Uid"].split() == [str(UID)] * 4
    assert fields["Gid"].split() == [str(UID)] * 4
    assert workload.host.run("id -u").stdout.strip() == str(UID)


def test_root_file_system_is_read_only(workload: Workload) -> None:
    result = workload.host.run("touch /probe")
    assert result.rc != 0 and "Read-only file system" in result.stderr
    root = [
        m
        for m in workload.host.file("/proc/1/mounts").content_string.splitlines()
        if m.split()[1] == "/"
    ]
    assert "ro" in root[-1].split()[3].split(","), root
    # Only the emptyDir volumes are writable.
    for writable in ("/var/lib/aiops-agent", "/tmp"):  # noqa: S108
        assert workload.host.run(f"touch {writable}/probe && rm {writable}/probe").rc == 0


def test_no_capabilities_no_new_privileges_seccomp(workload: Workload) -> None:
    fields = status_fields(workload)
    assert int(fields["CapEff"], 16) == 0
    assert int(fields["CapPrm"], 16) == 0
    assert int(fields["CapBnd"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # a seccomp filter is applied


def test_podman_applied_the_security_context(workload: Workload) -> None:
    (info,) = json.loads(podman("inspect", workload.container).stdout)
    assert info["Config"]["User"] in (str(UID), f"{UID}:{UID}")
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert "no-new-privileges" in " ".join(info["HostConfig"]["SecurityOpt"] or [])


def test_health_and_readiness(workload: Workload) -> None:
    code, body = http_get(workload.host, workload.port, "/healthz")
    assert code == 200 and json.loads(body)["status"] == "ok"
    code, body = http_get(workload.host, workload.port, "/readyz")
    assert code == 200, body
    # The image's HEALTHCHECK command.
    url = f"http://127.0.0.1:{workload.port}/healthz"
    assert workload.host.run(f"aiops-agent check-health --url {url}").rc == 0


def metrics(workload: Workload) -> list[tuple[str, dict[str, str], float]]:
    code, body = http_get(workload.host, workload.port, "/metrics")
    assert code == 200
    samples = []
    for line in body.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?", line)
        if match and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def host_mounts() -> dict[str, tuple[str, str]]:
    """This host's mount points (the test runs on the node): mount point -> (device, fstype)."""
    mounts = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        device, point, fstype = line.split()[:3]
        mounts[point.replace("\\040", " ")] = (device, fstype)
    return mounts


def test_daemonset_reads_the_host_through_host_root(workload: Workload) -> None:
    if workload.mode != "daemonset":
        pytest.skip("only the daemonset mounts the host")
    samples = metrics(workload)
    sizes = {s[1]["mountpoint"]: s for s in samples if s[0] == "node_filesystem_size_bytes"}
    assert sizes, "no file systems reported"
    host = host_mounts()
    # The host's own root file system, not the container's overlay root.
    assert "/" in sizes, sorted(sizes)
    assert (sizes["/"][1]["device"], sizes["/"][1]["fstype"]) == host["/"]
    root = os.statvfs("/")
    assert sizes["/"][2] == root.f_blocks * root.f_frsize
    # Every reported file system is one of the host's, with the host's device and type.
    for point, (_, labels, _) in sizes.items():
        assert point in host, f"{point} is not a mount point of the host"
        assert (labels["device"], labels["fstype"]) == host[point], point
    # CPUs: as many as the host has.
    cpus = {s[1]["cpu"] for s in samples if s[0] == "node_cpu_seconds_total"}
    host_cpus = [
        line for line in Path("/proc/stat").read_text().splitlines() if re.match(r"cpu\d+ ", line)
    ]
    assert len(cpus) == len(host_cpus) == os.cpu_count()
    # Processes: the host's, read from /host/proc (the container alone has one or two).
    procs = [s[2] for s in samples if s[0] in ("node_processes_pids", "node_procs_total")]
    if procs:
        assert procs[0] > 10


def test_deployment_sees_no_host(workload: Workload) -> None:
    if workload.mode != "deployment":
        pytest.skip("the deployment has no host mounts")
    assert not workload.host.file("/host").exists
    (info,) = json.loads(podman("inspect", workload.container).stdout)
    sources = {m.get("Source") for m in info["Mounts"]}
    assert not sources & {"/", "/proc", "/sys"}, sources


def test_daemonset_delivers_a_signed_alert_naming_the_node(workload: Workload) -> None:
    """The image built from the Dockerfile, configured by the role: the rule fires, the webhook
    goes to the receiver with an HMAC signature made with the key from the rendered Secret, and
    the host label is the node's name from AIOPS__AGENT__HOSTNAME (not the pod's name)."""
    if workload.mode != "daemonset":
        pytest.skip("the daemonset is rendered with a receiver")
    (secret,) = yaml.safe_load_all((RENDERED / "daemonset" / "secret.yaml").read_text())
    key = secret["stringData"]["webhook_hmac"].encode()
    deadline = time.monotonic() + ALERT_TIMEOUT
    while not (arrived := received(workload)):
        logs = podman("logs", workload.container, check=False).stderr[-3000:]
        assert time.monotonic() < deadline, f"no webhook within {ALERT_TIMEOUT} s:\n{logs}"
        time.sleep(1)
    request = arrived[0]
    assert request["path"] == "/alerts"
    headers = {name.lower(): value for name, value in request["headers"].items()}
    body = base64.b64decode(request["body"])
    timestamp = headers["x-aiops-timestamp"]
    expected = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-aiops-signature"], f"sha256={expected}")
    document = json.loads(body)
    assert document["status"] == "firing"
    assert document["alerts"][0]["labels"]["alertname"] == "MoleculeAlwaysFiring"
    assert document["alerts"][0]["labels"]["host"] == NODE_NAME
    assert document["agent"]["host"] == NODE_NAME
