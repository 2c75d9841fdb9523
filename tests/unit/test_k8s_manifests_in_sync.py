"""k8s/ holds the manifests of roles/aiops_k8s rendered with its defaults. This renders the role
again (ansible-playbook k8s/render.yml into a temp dir) and fails when the two differ, so a change
to the role, or to the shared config role, is committed together with its effect on k8s/.

To update k8s/: `ansible-playbook k8s/render.yml` from the repo root."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.ansible import run_playbook

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "k8s"
MODES = ("daemonset", "deployment")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("k8s")
    result = run_playbook(str(K8S_DIR / "render.yml"), "-e", f"aiops_k8s_out={out}")
    assert result.returncode == 0, result.stdout[-6000:]
    return out


@pytest.mark.parametrize("mode", MODES)
def test_k8s_dir_matches_the_role_output(rendered: Path, mode: str) -> None:
    committed = {
        p.name: p.read_text(encoding="utf-8") for p in sorted((K8S_DIR / mode).glob("*.yaml"))
    }
    fresh = {
        p.name: p.read_text(encoding="utf-8") for p in sorted((rendered / mode).glob("*.yaml"))
    }
    problems = []
    for name in sorted(set(committed) | set(fresh)):
        if name not in fresh:
            problems.append(f"k8s/{mode}/{name}: the role no longer renders it")
        elif name not in committed:
            problems.append(f"k8s/{mode}/{name}: rendered by the role but not committed")
        elif committed[name] != fresh[name]:
            diff = difflib.unified_diff(
                committed[name].splitlines(keepends=True),
                fresh[name].splitlines(keepends=True),
                f"k8s/{mode}/{name} (committed)",
                f"{name} (role output)",
            )
            problems.append("".join(diff))
    assert not problems, (
        "k8s/ is out of date with roles/aiops_k8s; run `ansible-playbook k8s/render.yml`:\n"
        + "\n".join(problems)
    )


def test_default_image_tag_is_the_package_version() -> None:
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    defaults = yaml.safe_load((ROOT / "roles/aiops_k8s/defaults/main.yml").read_text())
    assert version and defaults["aiops_k8s_image_tag"] == version.group(1)


@pytest.mark.parametrize("mode", MODES)
def test_kustomization_lists_every_manifest(mode: str) -> None:
    kustomization = yaml.safe_load((K8S_DIR / mode / "kustomization.yaml").read_text())
    manifests = {p.name for p in (K8S_DIR / mode).glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


@pytest.mark.parametrize("mode", MODES)
def test_agent_config_fits_the_pod(mode: str) -> None:
    """The config in the ConfigMap agrees with the pod spec: listen port, host_root, state dir."""
    (configmap,) = yaml.safe_load_all((K8S_DIR / mode / "configmap.yaml").read_text())
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    (workload,) = yaml.safe_load_all((K8S_DIR / mode / f"{mode}.yaml").read_text())
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    assert config["http"]["listen"] == f"0.0.0.0:{port}"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert config["agent"]["state_dir"] in mounts
    assert not mounts[config["agent"]["state_dir"]].get("readOnly")
    if mode == "daemonset":
        assert config["agent"]["host_root"] == "/host"
        assert {"/host", "/host/proc", "/host/sys"} <= set(mounts)
        assert all(mounts[p]["readOnly"] for p in ("/host", "/host/proc", "/host/sys"))
    else:
        assert config["agent"]["host_root"] == "/"
    assert container["args"][-1].startswith(mounts["/etc/aiops-agent/config"]["mountPath"])
