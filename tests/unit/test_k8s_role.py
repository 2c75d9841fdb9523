"""roles/aiops_k8s as a user runs it: `ansible-playbook` on a small playbook, on the controller
only (no cluster, no podman). The role validates the rendered config with the agent's own
check-config before writing anything, derives the NetworkPolicy's egress from the receivers,
passes the node's name to the DaemonSet, and never writes a plaintext Secret into a git work
tree."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.ansible import render_k8s as run_role

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "k8s"

IMAGE = "registry.example.com/team/aiops-agent"


def documents(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in directory.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[doc["kind"]] = doc
    return found


def egress_rules(directory: Path) -> list[tuple[str, int, str]]:
    """(cidr or "any", port, protocol) of each egress rule but DNS's."""
    rules = []
    for rule in documents(directory)["NetworkPolicy"]["spec"]["egress"]:
        if any("namespaceSelector" in peer for peer in rule.get("to", [])):
            continue
        (port,) = rule["ports"]
        (cidr,) = [peer["ipBlock"]["cidr"] for peer in rule.get("to", [])] or ["any"]
        rules.append((cidr, port["port"], port["protocol"]))
    return rules


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_a_typo_in_a_rule_fails_with_the_agents_message_and_writes_nothing(
    tmp_path: Path, check_mode: bool
) -> None:
    out = tmp_path / "out"
    rule = {"name": "Load", "metric": "node_load1", "warnng": 0.5}
    variables = {
        "aiops_k8s_image_repository": IMAGE,
        "aiops_k8s_render_dir": str(out),
        "aiops_agent_config_extra": {"detection": {"rules": [rule]}},
    }
    code, output = run_role(tmp_path / "play", variables, *(["--check"] if check_mode else []))
    assert code != 0, output
    assert "detection.rules.0.warnng: unknown key; did you mean 'warning'?" in output, output
    assert not out.exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # Types Ansible cannot convert are argument_specs' to report.
        (
            "aiops_agent_http_max_connections",
            [1],
            "argument 'aiops_agent_http_max_connections' is of type list and we were unable to "
            "convert to int",
        ),
        (
            "aiops_agent_collectors",
            {"hwmon": {"enabled": "perhaps"}},
            "argument 'enabled' is of type str found in 'aiops_agent_collectors -> hwmon'",
        ),
        # A str option takes anything (Ansible makes text of a list), so the agent's check-config
        # rejects it, and the role names the variable behind the key.
        (
            "aiops_agent_interval",
            [1],
            "agent.interval (aiops_agent_interval): expected a duration such as 30s or 5m, got [1]",
        ),
    ],
)
def test_a_wrong_type_fails_naming_the_variable(
    tmp_path: Path, variable: str, value: Any, message: str
) -> None:
    out = tmp_path / "out"
    variables = {
        "aiops_k8s_image_repository": IMAGE,
        "aiops_k8s_render_dir": str(out),
        variable: value,
    }
    code, output = run_role(tmp_path / "play", variables)
    assert code != 0, output
    assert message in output, output
    assert not out.exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "aiops_agent_interval",
            "5 minutes",
            "agent.interval (aiops_agent_interval): '5 minutes' is not a duration "
            "(examples: 30, 30s, 5m, 1h30m)",
        ),
        (  # a key inside a variable's section names that variable
            "aiops_agent_collectors",
            {"filesystem": {"stat_timeout": "soon"}},
            "collectors.filesystem.stat_timeout (aiops_agent_collectors): 'soon' is not a duration",
        ),
    ],
)
def test_a_bad_value_fails_with_the_agents_message_naming_the_variable(
    tmp_path: Path, variable: str, value: Any, message: str
) -> None:
    out = tmp_path / "out"
    variables = {
        "aiops_k8s_image_repository": IMAGE,
        "aiops_k8s_render_dir": str(out),
        variable: value,
    }
    code, output = run_role(tmp_path / "play", variables)
    assert code != 0, output
    assert "config.yaml (rendered for the ConfigMap):" in output, output
    assert message in output, output
    assert not out.exists()


def test_receivers_become_networkpolicy_egress(tmp_path: Path) -> None:
    out = tmp_path / "out"
    secrets_dir = "/etc/aiops-agent/secrets"
    variables = {
        "aiops_k8s_image_repository": IMAGE,
        "aiops_k8s_render_dir": str(out),
        "aiops_agent_hostname": "fixed-name",
        "aiops_agent_config_extra": {
            "receivers": {
                "literal_ip": {
                    "webhook": {
                        "url": "http://192.0.2.10:8080/hook?token=in-the-query",
                        "hmac_secret": f"file:{secrets_dir}/hmac",
                    }
                },
                "by_name": {"alertmanager": {"url": "http://alertmanager.example.com:9093"}},
                "narrowed": {"webhook": {"url": "https://alerts.example.net:8443/x"}},
                "mail": {
                    "email": {
                        "smarthost": "[2001:db8::25]:587",
                        "from_address": "agent@example.com",
                        "to": ["ops@example.com"],
                    }
                },
                "url_in_file": {"slack": {"url": f"file:{secrets_dir}/slack_url"}},
                "url_in_env": {"webhook": {"url": "${HOOK_URL}"}},
            }
        },
        "aiops_k8s_egress_receivers": [
            {"receiver": "narrowed", "cidr": "198.51.100.0/24", "port": 8443},
            {"receiver": "url_in_env", "port": 443},
            {"cidr": "10.0.0.0/8", "port": 4317},
        ],
    }
    code, output = run_role(tmp_path / "play", variables)
    assert code == 0, output
    assert sorted(egress_rules(out)) == sorted(
        [
            ("192.0.2.10/32", 8080, "TCP"),
            ("any", 9093, "TCP"),  # a host name: any address
            ("2001:db8::25/128", 587, "TCP"),
            ("198.51.100.0/24", 8443, "TCP"),  # replaces the derived ("any", 8443)
            ("any", 443, "TCP"),
            ("10.0.0.0/8", 4317, "TCP"),
        ]
    )
    policy = (out / "networkpolicy.yaml").read_text()
    assert "# For by_name (alertmanager.example.com).\n    # Any address: " in policy
    assert "in-the-query" not in policy and "/hook" not in policy
    # The receiver whose URL is a secret and that no rule names is warned about, by name.
    warnings = [line for line in output.splitlines() if "WARNING: receiver" in line]
    assert len(warnings) == 1 and "receiver url_in_file (slack)" in warnings[0], output
    # aiops_agent_hostname is set: no node name from the downward API.
    daemonset = documents(out)["DaemonSet"]
    assert "env" not in daemonset["spec"]["template"]["spec"]["containers"][0]
    config = yaml.safe_load(documents(out)["ConfigMap"]["data"]["config.yaml"])
    assert config["agent"]["hostname"] == "fixed-name"


@pytest.mark.parametrize("mode", ["daemonset", "deployment"])
def test_the_daemonsets_host_label_is_the_node_name(mode: str) -> None:
    """k8s/ is the role's output with its defaults (test_k8s_manifests_in_sync.py)."""
    (workload,) = yaml.safe_load_all((K8S_DIR / mode / f"{mode}.yaml").read_text())
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    if mode == "deployment":  # the deployment monitors its pod, named as the pod
        assert "env" not in container
        return
    assert container["env"] == [
        {
            "name": "AIOPS__AGENT__HOSTNAME",
            "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
        }
    ]


@pytest.fixture
def git_work_tree(tmp_path: Path) -> Path:
    git = shutil.which("git")
    if git is None:
        pytest.fail("git is needed to make a work tree")
    tree = tmp_path / "clone"
    subprocess.run([git, "init", "-q", str(tree)], check=True)
    return tree


def test_a_secret_is_never_rendered_into_a_git_work_tree(git_work_tree: Path) -> None:
    secret_value = "not-a-real-token-0123"
    variables = {
        "aiops_k8s_image_repository": IMAGE,
        "aiops_k8s_render_dir": str(git_work_tree / "rendered"),
        "aiops_agent_receiver_secrets": {"webhook_token": secret_value},
    }
    code, output = run_role(git_work_tree / "play", variables)
    assert code != 0, output
    assert f"inside the git work tree {git_work_tree}" in output, output
    assert secret_value not in output
    assert not (git_work_tree / "rendered").exists()
    # An explicit opt-in (e.g. a directory ignored on purpose) writes it, readable by its owner.
    variables["aiops_k8s_allow_secret_in_git_work_tree"] = True
    code, output = run_role(git_work_tree / "play", variables)
    assert code == 0, output
    mode = (git_work_tree / "rendered" / "secret.yaml").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_the_default_render_dir_is_outside_the_work_tree(
    git_work_tree: Path, tmp_path: Path
) -> None:
    """Run from inside a clone, as a user does, with secrets and no render dir."""
    cache = tmp_path / "cache"
    variables = {
        "aiops_k8s_image_repository": IMAGE,
        "aiops_agent_receiver_secrets": {"webhook_token": "not-a-real-token"},
    }
    code, output = run_role(
        git_work_tree / "play", variables, environ={"XDG_CACHE_HOME": str(cache)}
    )
    assert code == 0, output
    rendered = cache / "aiops-agent" / "k8s" / "aiops-agent-daemonset"
    assert (rendered / "secret.yaml").exists()
    assert not list(git_work_tree.glob("**/secret.yaml"))


def test_a_missing_image_or_agent_command_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_role(tmp_path / "image", {"aiops_k8s_render_dir": str(out)})
    assert code != 0
    assert "aiops_k8s_image_repository is empty: build the image" in output, output
    variables = {
        "aiops_k8s_image_repository": IMAGE,
        "aiops_k8s_render_dir": str(out),
        "aiops_k8s_check_config_command": [str(tmp_path / "absent" / "aiops-agent")],
    }
    code, output = run_role(tmp_path / "command", variables)
    assert code != 0
    assert f"cannot run {tmp_path}/absent/aiops-agent" in output, output
    assert "aiops_k8s_check_config_command" in output
    assert not out.exists()
