"""The Pod Security Standards, encoded from their published definition
(https://kubernetes.io/docs/concepts/security/pod-security-standards/), checked on the manifests
in k8s/ (kept equal to the role's output by test_k8s_manifests_in_sync.py):

- the deployment mode meets every control of "baseline" and "restricted";
- the daemonset mode departs from "restricted" for exactly the documented reasons (its hostPath
  volumes), and its namespace enforces the least privileged level it can run under.

Molecule's kubernetes scenario runs the same checks on the manifests it renders, importing
evaluate() and the constants from here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "k8s"

# Baseline: capabilities a container may add (the standard's "Allowed Values").
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
        "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip
# Baseline: the safe sysctls (including those added in 1.27, 1.29 and later).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
# Restricted: the only volume types allowed.
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
VOLUME_NAME_KEYS = frozenset({"name"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"

# Why the daemonset is not "restricted": the node's /, /proc and /sys as hostPath volumes. The
# same volumes break one baseline control and one restricted control. Documented in the role's
# daemonset and namespace templates and in the README.
DAEMONSET_DOCUMENTED_DEPARTURES = frozenset(
    {("baseline", "HostPath Volumes"), ("restricted", "Volume Types")}
)


class Violation(NamedTuple):
    level: str  # "baseline" or "restricted"
    control: str  # the control's name in the standard
    detail: str


class PodTemplate(NamedTuple):
    source: str  # "file: Kind/name"
    kind: str
    annotations: dict[str, str]
    spec: dict[str, Any]


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field in ("containers", "initContainers", "ephemeralContainers"):
        yield from spec.get(field) or []


def evaluate(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> list[Violation]:
    """Every baseline and restricted control the pod spec breaks."""
    annotations = annotations or {}
    found: list[Violation] = []

    def fail(level: str, control: str, detail: str) -> None:
        found.append(Violation(level, control, detail))

    pod_sc = spec.get("securityContext") or {}
    containers = list(_containers(spec))

    # ---- baseline ---------------------------------------------------------------------------
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        fail("baseline", "HostProcess", "spec.securityContext.windowsOptions.hostProcess")
    for c in containers:
        if ((c.get("securityContext") or {}).get("windowsOptions") or {}).get("hostProcess"):
            fail("baseline", "HostProcess", f"{c['name']}: windowsOptions.hostProcess")

    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            fail("baseline", "Host Namespaces", f"spec.{field}: true")

    for c in containers:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            fail("baseline", "Privileged Containers", f"{name}: privileged: true")
        for cap in (sc.get("capabilities") or {}).get("add") or []:
            if cap not in BASELINE_CAPABILITIES:
                fail("baseline", "Capabilities", f"{name}: adds {cap}")
        for port in c.get("ports") or []:
            if port.get("hostPort", 0) not in (0, None):
                fail("baseline", "Host Ports", f"{name}: hostPort {port['hostPort']}")
        if sc.get("procMount", "Default") not in ("Default", None):
            fail("baseline", "/proc Mount Type", f"{name}: procMount {sc['procMount']}")

    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            fail(
                "baseline",
                "HostPath Volumes",
                f"volume {volume['name']}: hostPath {volume['hostPath'].get('path')}",
            )

    # AppArmor: the field (1.30+) on pod and containers, and the older annotation.
    for where, sc in [("pod", pod_sc)] + [
        (c["name"], c.get("securityContext") or {}) for c in containers
    ]:
        profile = (sc.get("appArmorProfile") or {}).get("type")
        if profile not in (None, "RuntimeDefault", "Localhost"):
            fail("baseline", "AppArmor", f"{where}: appArmorProfile.type {profile}")
    for key, value in annotations.items():
        if key.startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            fail("baseline", "AppArmor", f"annotation {key}: {value}")

    for where, sc in [("pod", pod_sc)] + [
        (c["name"], c.get("securityContext") or {}) for c in containers
    ]:
        options = sc.get("seLinuxOptions") or {}
        if options.get("type", "") not in SELINUX_TYPES:
            fail("baseline", "SELinux", f"{where}: seLinuxOptions.type {options['type']}")
        for field in ("user", "role"):
            if options.get(field, ""):
                fail("baseline", "SELinux", f"{where}: seLinuxOptions.{field} set")

    for where, sc in [("pod", pod_sc)] + [
        (c["name"], c.get("securityContext") or {}) for c in containers
    ]:
        profile = (sc.get("seccompProfile") or {}).get("type")
        if profile not in (None, "RuntimeDefault", "Localhost"):
            fail("baseline", "Seccomp", f"{where}: seccompProfile.type {profile}")

    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            fail("baseline", "Sysctls", f"sysctl {sysctl.get('name')}")

    # ---- restricted -------------------------------------------------------------------------
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - VOLUME_NAME_KEYS
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            fail(
                "restricted", "Volume Types", f"volume {volume['name']}: {', '.join(sorted(kinds))}"
            )

    for c in containers:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(
                "restricted",
                "Privilege Escalation",
                f"{name}: allowPrivilegeEscalation is not false",
            )
        if sc.get("runAsNonRoot") is False:
            fail("restricted", "Running as Non-root", f"{name}: runAsNonRoot: false")
        elif sc.get("runAsNonRoot") is not True and pod_sc.get("runAsNonRoot") is not True:
            fail(
                "restricted",
                "Running as Non-root",
                f"{name}: runAsNonRoot not true (pod or container)",
            )
        if sc.get("runAsUser") == 0:
            fail("restricted", "Running as Non-root user", f"{name}: runAsUser: 0")
        profile = (sc.get("seccompProfile") or {}).get("type")
        pod_profile = (pod_sc.get("seccompProfile") or {}).get("type")
        if profile is None and pod_profile not in ("RuntimeDefault", "Localhost"):
            fail("restricted", "Seccomp", f"{name}: no RuntimeDefault/Localhost seccomp profile")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            fail("restricted", "Capabilities", f"{name}: does not drop ALL")
        for cap in capabilities.get("add") or []:
            if cap != "NET_BIND_SERVICE":
                fail("restricted", "Capabilities", f"{name}: adds {cap}")
    if pod_sc.get("runAsUser") == 0:
        fail("restricted", "Running as Non-root user", "pod: runAsUser: 0")
    return found


def required_level(violations: Iterable[Violation]) -> str:
    """The least privileged Pod Security level under which a pod with these violations runs."""
    levels = {v.level for v in violations}
    if "baseline" in levels:
        return "privileged"
    if "restricted" in levels:
        return "baseline"
    return "restricted"


def pod_templates(directory: Path) -> list[PodTemplate]:
    """The pod specs of every workload object in the directory's YAML files."""
    found = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict):
                continue
            kind = doc.get("kind")
            source = f"{path.name}: {kind}/{doc.get('metadata', {}).get('name')}"
            if kind == "Pod":
                meta, spec = doc.get("metadata") or {}, doc["spec"]
            elif kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"):
                meta, spec = (
                    doc["spec"]["template"].get("metadata") or {},
                    doc["spec"]["template"]["spec"],
                )
            elif kind == "CronJob":
                template = doc["spec"]["jobTemplate"]["spec"]["template"]
                meta, spec = template.get("metadata") or {}, template["spec"]
            else:
                continue
            found.append(PodTemplate(source, kind, meta.get("annotations") or {}, spec))
    return found


def namespace_enforce_level(directory: Path) -> str:
    for doc in yaml.safe_load_all((directory / "namespace.yaml").read_text(encoding="utf-8")):
        return str(doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"])
    raise AssertionError(f"no Namespace in {directory}/namespace.yaml")


def assert_deployment_restricted(directory: Path) -> None:
    templates = pod_templates(directory)
    assert [t.kind for t in templates] == ["Deployment"], templates
    for template in templates:
        assert evaluate(template.spec, template.annotations) == [], template.source
    assert namespace_enforce_level(directory) == "restricted"


def assert_daemonset_departures_documented(directory: Path) -> None:
    templates = pod_templates(directory)
    assert [t.kind for t in templates] == ["DaemonSet"], templates
    violations = evaluate(templates[0].spec, templates[0].annotations)
    assert {(v.level, v.control) for v in violations} == DAEMONSET_DOCUMENTED_DEPARTURES, violations
    # Only the three node mounts, nothing else of the pod.
    assert {v.detail.split(":")[0] for v in violations} == {
        "volume host-root",
        "volume host-proc",
        "volume host-sys",
    }, violations
    assert namespace_enforce_level(directory) == required_level(violations) == "privileged"


def test_deployment_mode_meets_restricted() -> None:
    assert_deployment_restricted(K8S_DIR / "deployment")


def test_daemonset_mode_fails_restricted_exactly_for_documented_reasons() -> None:
    assert_daemonset_departures_documented(K8S_DIR / "daemonset")


def test_daemonset_documents_its_departures() -> None:
    text = (K8S_DIR / "daemonset" / "daemonset.yaml").read_text(encoding="utf-8")
    assert 'meets "restricted" except for its hostPath volumes' in text
    namespace = (K8S_DIR / "daemonset" / "namespace.yaml").read_text(encoding="utf-8")
    assert 'hostPath volumes, which the "baseline" level already forbids' in namespace


# ---- the checker itself: each control catches what the standard forbids ----------------------
def _mutate(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set a dotted path ("containers.0.securityContext.privileged") in a copy of spec."""
    result = copy.deepcopy(spec)
    node: Any = result
    parts = path.split(".")
    for part in parts[:-1]:
        key: Any = int(part) if part.isdigit() else part
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    last = parts[-1]
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[int(last) if last.isdigit() else last] = value
    return result


_DELETE = object()
C0 = "containers.0.securityContext"
MUTATIONS = [
    (
        "pod hostProcess",
        "securityContext.windowsOptions.hostProcess",
        True,
        ("baseline", "HostProcess"),
    ),
    (
        "container hostProcess",
        f"{C0}.windowsOptions.hostProcess",
        True,
        ("baseline", "HostProcess"),
    ),
    ("hostNetwork", "hostNetwork", True, ("baseline", "Host Namespaces")),
    ("hostPID", "hostPID", True, ("baseline", "Host Namespaces")),
    ("hostIPC", "hostIPC", True, ("baseline", "Host Namespaces")),
    ("privileged", f"{C0}.privileged", True, ("baseline", "Privileged Containers")),
    ("add SYS_ADMIN", f"{C0}.capabilities.add", ["SYS_ADMIN"], ("baseline", "Capabilities")),
    ("add CHOWN", f"{C0}.capabilities.add", ["CHOWN"], ("restricted", "Capabilities")),
    ("no drop ALL", f"{C0}.capabilities.drop", [], ("restricted", "Capabilities")),
    (
        "hostPath",
        "volumes.0",
        {"name": "v", "hostPath": {"path": "/"}},
        ("baseline", "HostPath Volumes"),
    ),
    (
        "nfs volume",
        "volumes.0",
        {"name": "v", "nfs": {"server": "s", "path": "/"}},
        ("restricted", "Volume Types"),
    ),
    ("hostPort", "containers.0.ports.0.hostPort", 9877, ("baseline", "Host Ports")),
    (
        "AppArmor unconfined",
        f"{C0}.appArmorProfile",
        {"type": "Unconfined"},
        ("baseline", "AppArmor"),
    ),
    ("SELinux spc_t", f"{C0}.seLinuxOptions", {"type": "spc_t"}, ("baseline", "SELinux")),
    (
        "SELinux user",
        "securityContext.seLinuxOptions",
        {"user": "system_u"},
        ("baseline", "SELinux"),
    ),
    ("procMount Unmasked", f"{C0}.procMount", "Unmasked", ("baseline", "/proc Mount Type")),
    ("seccomp Unconfined", f"{C0}.seccompProfile", {"type": "Unconfined"}, ("baseline", "Seccomp")),
    (
        "unsafe sysctl",
        "securityContext.sysctls",
        [{"name": "kernel.msgmax", "value": "1"}],
        ("baseline", "Sysctls"),
    ),
    (
        "privilege escalation",
        f"{C0}.allowPrivilegeEscalation",
        True,
        ("restricted", "Privilege Escalation"),
    ),
    (
        "privilege escalation unset",
        f"{C0}.allowPrivilegeEscalation",
        _DELETE,
        ("restricted", "Privilege Escalation"),
    ),
    ("runAsNonRoot false", f"{C0}.runAsNonRoot", False, ("restricted", "Running as Non-root")),
    ("runAsUser 0", f"{C0}.runAsUser", 0, ("restricted", "Running as Non-root user")),
    ("pod runAsUser 0", "securityContext.runAsUser", 0, ("restricted", "Running as Non-root user")),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_checker_catches_each_control(path: str, value: Any, expected: tuple[str, str]) -> None:
    (template,) = pod_templates(K8S_DIR / "deployment")
    assert evaluate(template.spec, template.annotations) == []
    found = {(v.level, v.control) for v in evaluate(_mutate(template.spec, path, value))}
    assert expected in found


def test_checker_needs_non_root_and_seccomp_somewhere() -> None:
    (template,) = pod_templates(K8S_DIR / "deployment")
    spec = _mutate(template.spec, "securityContext.runAsNonRoot", _DELETE)
    spec = _mutate(spec, f"{C0}.runAsNonRoot", _DELETE)
    spec = _mutate(spec, "securityContext.seccompProfile", _DELETE)
    spec = _mutate(spec, f"{C0}.seccompProfile", _DELETE)
    found = {(v.level, v.control) for v in evaluate(spec)}
    assert {("restricted", "Running as Non-root"), ("restricted", "Seccomp")} <= found


def test_checker_apparmor_annotation() -> None:
    (template,) = pod_templates(K8S_DIR / "deployment")
    bad = {APPARMOR_ANNOTATION + "aiops-agent": "unconfined"}
    assert ("baseline", "AppArmor") in {(v.level, v.control) for v in evaluate(template.spec, bad)}
    good = {APPARMOR_ANNOTATION + "aiops-agent": "runtime/default"}
    assert evaluate(template.spec, good) == []
