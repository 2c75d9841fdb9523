"""The configurations the deployments produce follow the write rule: a real agent run with the
rendered Kubernetes ConfigMap (daemonset and deployment: k8s/, kept equal to the role's render by
tests/unit/test_k8s_manifests_in_sync.py) and with the VM role's config for a host exposed to a
fleet's Prometheus (http.listen 0.0.0.0) refuses a silence POSTed from a non-loopback address
with 403, and takes one over loopback, the way `kubectl port-forward` or a local client arrives.
Only what cannot run here is changed: the state directory, host_root and the port (0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from aiops_agent.base.listen import ListenAddress
from tests.helpers.agentproc import running_agent
from tests.helpers.ansible import render_k8s, run_playbook
from tests.helpers.silenceapi import SILENCES, basic, call, local, remote, silence

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VM_PLAYBOOK = """\
- name: Render the agent's config as roles/aiops_agent does, for a host Prometheus scrapes
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    aiops_agent_listen_address: 0.0.0.0:9877
  roles:
    - aiops_agent_config
  tasks:
    - name: Write it
      ansible.builtin.copy:
        content: "{{ aiops_agent_config_yaml }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def runnable_here(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    listen = ListenAddress.parse(config["http"]["listen"])
    assert listen.is_wildcard, listen  # exposed to every address, as deployed
    assert "web_config_file" not in config["http"], "the default render has no auth"
    assert "insecure_unauthenticated_writes" not in config["http"]
    config["agent"].update(state_dir=str(tmp_path / "state"), host_root="/")
    config["http"]["listen"] = str(listen._replace(port=0))
    return config


def assert_follows_the_write_rule(config: dict[str, Any]) -> None:
    with running_agent(config) as agent:
        status, body = call(remote(agent), "POST", SILENCES, silence("from the network"))
        assert status == 403, body
        status, body = call(local(agent), "POST", SILENCES, silence("port-forward"))
        assert status == 200, body
        status, body = call(remote(agent), "GET", SILENCES)
        assert status == 200 and [s["comment"] for s in body["data"]] == ["port-forward"], body


@pytest.mark.parametrize("mode", ["daemonset", "deployment"])
def test_kubernetes_render_refuses_writes_from_the_network(mode: str, tmp_path: Path) -> None:
    configmap = yaml.safe_load((ROOT / "k8s" / mode / "configmap.yaml").read_text())
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    assert_follows_the_write_rule(runnable_here(config, tmp_path))


def test_vm_role_config_refuses_writes_from_the_network(tmp_path: Path) -> None:
    (tmp_path / "render.yml").write_text(VM_PLAYBOOK)
    out = tmp_path / "config.yaml"
    result = run_playbook("render.yml", "-e", f"out={out}", cwd=tmp_path,
                          environ={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})  # fmt: skip
    assert result.returncode == 0, result.stdout
    config = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert_follows_the_write_rule(runnable_here(config, tmp_path))


def test_kubernetes_basic_auth_recipe_serves_writes_with_credentials(tmp_path: Path) -> None:
    """The README's recipe: web.yml with a bcrypt hash among the role's secrets (a Secret mounted
    at /etc/aiops-agent/secrets) and http.web_config_file naming it. Here the file is taken out
    of the rendered Secret and the path pointed at it; nothing else changes."""
    hashed = bcrypt.hashpw(b"k8s-pw", bcrypt.gensalt(4)).decode()
    variables = {
        "aiops_k8s_image_repository": "registry.example.com/aiops-agent",
        "aiops_k8s_render_dir": str(tmp_path / "out"),
        "aiops_agent_receiver_secrets": {"web.yml": f"basic_auth_users:\n  sre: {hashed}\n"},
        "aiops_agent_config_extra": {
            "http": {"web_config_file": "/etc/aiops-agent/secrets/web.yml"}
        },
    }
    returncode, output = render_k8s(tmp_path, variables)
    assert returncode == 0, output
    configmap = yaml.safe_load((tmp_path / "out" / "configmap.yaml").read_text())
    secret = yaml.safe_load((tmp_path / "out" / "secret.yaml").read_text())
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    assert config["http"]["web_config_file"] == "/etc/aiops-agent/secrets/web.yml"
    web = tmp_path / "web.yml"
    web.write_text(secret["stringData"]["web.yml"], encoding="utf-8")
    config["http"]["web_config_file"] = str(web)
    config["agent"].update(state_dir=str(tmp_path / "state"), host_root="/")
    config["http"]["listen"] = "0.0.0.0:0"
    with running_agent(config, auth=("sre", "k8s-pw")) as agent:
        status, body = call(remote(agent), "GET", "/healthz")  # the kubelet's probe
        assert status == 200, body
        status, body = call(remote(agent), "POST", SILENCES, silence("no credentials"))
        assert status == 401, body
        good = basic("sre", "k8s-pw")
        status, body = call(remote(agent), "POST", SILENCES, silence("with credentials"), good)
        assert status == 200, body
