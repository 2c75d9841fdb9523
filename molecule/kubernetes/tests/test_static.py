"""The rendered manifests, statically: strict OpenAPI schemas of several Kubernetes versions,
checkov policies (manifests and Dockerfile), hadolint, and the Pod Security Standards."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import RENDERED, ROOT
from tests.unit.test_pod_security_restricted import (
    assert_daemonset_departures_documented,
    assert_deployment_restricted,
)

VARIANTS = ("daemonset", "deployment", "deployment-options")
# Recent Kubernetes releases whose OpenAPI schemas kubernetes-validate ships offline.
KUBERNETES_VERSIONS = ("1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0")
# Not Kubernetes API objects of the core schemas: kustomize's own file, and the Prometheus
# Operator's CRD, whose schema is not available offline (checked structurally below).
NO_BUILTIN_SCHEMA = {"Kustomization", "ServiceMonitor"}


def documents(variant: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((RENDERED / variant).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append((f"{variant}/{path.name}", doc))
    return found


def test_every_variant_was_rendered() -> None:
    for variant in VARIANTS:
        kinds = {doc["kind"] for _, doc in documents(variant)}
        assert {"Namespace", "ServiceAccount", "ConfigMap", "Service", "NetworkPolicy"} <= kinds
    assert {"DaemonSet"} <= {d["kind"] for _, d in documents("daemonset")}
    assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= {
        d["kind"] for _, d in documents("deployment")
    }
    assert {"Secret", "ServiceMonitor"} <= {d["kind"] for _, d in documents("deployment-options")}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_schema_strict(variant: str, version: str) -> None:
    problems = []
    for source, doc in documents(variant):
        if doc["kind"] in NO_BUILTIN_SCHEMA:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{source}: {error.message} at {'.'.join(map(str, error.path))}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{source}: no schema for {doc['apiVersion']} {doc['kind']}: {error}")
    assert not problems, "\n".join(problems)


def test_strict_validation_rejects_unknown_fields() -> None:
    """The schema check above would catch a typo: an unknown field fails strict validation."""
    ((_, workload),) = [(s, d) for s, d in documents("deployment") if d["kind"] == "Deployment"]
    broken = copy.deepcopy(workload)
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    for variant in VARIANTS:
        directory = RENDERED / variant
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
        manifests = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
        assert sorted(kustomization["resources"]) == sorted(manifests)


def test_service_monitor_targets_the_service() -> None:
    """No offline schema for the CRD: check what matters, that it selects the Service and
    scrapes a port the Service has, at a valid interval."""
    docs = {d["kind"]: d for _, d in documents("deployment-options")}
    monitor, service = docs["ServiceMonitor"], docs["Service"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert set(monitor["spec"]) <= {"jobLabel", "selector", "endpoints", "namespaceSelector"}
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names
        assert re.fullmatch(r"(\d+(ms|s|m|h))+", endpoint["interval"])
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_labels_everywhere() -> None:
    for variant in VARIANTS:
        for source, doc in documents(variant):
            if doc["kind"] == "Kustomization":
                continue
            labels = doc["metadata"]["labels"]
            for key in ("name", "instance", "version", "component", "part-of", "managed-by"):
                assert f"app.kubernetes.io/{key}" in labels, source


def _checkov(*args: str) -> dict[str, Any]:
    checkov = shutil.which("checkov", path=str(Path(sys.executable).parent)) or "checkov"
    result = subprocess.run(
        [checkov, *args, "--output", "json", "--skip-download", "--compact"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    if isinstance(report, list):
        (report,) = report
    return report


def _assert_checkov_clean(report: dict[str, Any]) -> None:
    results = report.get("results", {})
    failed = [
        f"{c['check_id']} {c['check_name']} ({c['resource']}, {c['file_path']})"
        for c in results.get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert report.get("summary", {}).get("passed", 0) > 0, "checkov checked nothing"
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) > 20, f"{skipped['check_id']} skipped without a reason"


@pytest.mark.parametrize("variant", VARIANTS)
def test_checkov_manifests(variant: str) -> None:
    # File by file: checkov skips directories whose name starts with a dot (molecule's
    # ephemeral directory is under ~/.ansible).
    files = [
        arg for path in sorted((RENDERED / variant).glob("*.yaml")) for arg in ("--file", str(path))
    ]
    _assert_checkov_clean(_checkov(*files, "--framework", "kubernetes"))


def test_checkov_dockerfile() -> None:
    _assert_checkov_clean(_checkov("--file", "Dockerfile", "--framework", "dockerfile"))


def test_hadolint_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or "hadolint"
    result = subprocess.run(
        [hadolint, "Dockerfile"], check=False, capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", ["deployment", "deployment-options"])
def test_deployment_meets_pod_security_restricted(variant: str) -> None:
    assert_deployment_restricted(RENDERED / variant)


def test_daemonset_fails_restricted_only_for_documented_reasons() -> None:
    assert_daemonset_departures_documented(RENDERED / "daemonset")


def test_daemonset_names_alerts_after_the_node() -> None:
    """podman 4.3 cannot resolve spec.nodeName (test_running.py stands in for it): the rendered
    downward API reference is checked here."""
    ((_, workload),) = [(s, d) for s, d in documents("daemonset") if d["kind"] == "DaemonSet"]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    assert {
        "name": "AIOPS__AGENT__HOSTNAME",
        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
    } in container["env"]


def egress(variant: str) -> set[tuple[str, int, str]]:
    """(cidr or "any", port, protocol) of each egress rule but DNS's."""
    ((_, policy),) = [(s, d) for s, d in documents(variant) if d["kind"] == "NetworkPolicy"]
    rules = set()
    for rule in policy["spec"]["egress"]:
        if any("namespaceSelector" in peer for peer in rule.get("to", [])):
            continue
        cidrs = [peer["ipBlock"]["cidr"] for peer in rule.get("to", [])] or ["any"]
        rules |= {(cidr, p["port"], p["protocol"]) for cidr in cidrs for p in rule["ports"]}
    return rules


def test_egress_is_derived_from_the_receivers() -> None:
    assert egress("daemonset") == {("127.0.0.1/32", 29880, "TCP")}
    assert egress("deployment") == set()
    assert egress("deployment-options") == {
        ("192.0.2.20/32", 9093, "TCP"),  # alertmanager: an IP literal
        ("any", 443, "TCP"),  # hook: hooks.example.com
        ("192.0.2.0/24", 443, "TCP"),  # aiops_k8s_egress_receivers
        ("any", 4317, "TCP"),
    }
