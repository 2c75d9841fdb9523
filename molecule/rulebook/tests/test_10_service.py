"""The state after converge: files and owners, the inventory of the fleet, the sandboxed service,
and its webhook verifying signatures the way the agents sign them."""

from __future__ import annotations

import re
import time

import yaml
from conftest import SECRET, SERVICE, alert, post, signed


def test_user_and_files(host):
    user = host.user("aiops-eda")
    assert user.exists and user.uid < 1000 and user.shell == "/usr/sbin/nologin"
    expected = {
        "/etc/aiops-rulebook": ("root", "aiops-eda", 0o750),
        "/etc/aiops-rulebook/inventory/hosts.yml": ("root", "aiops-eda", 0o640),
        "/etc/aiops-rulebook/vars.yml": ("root", "aiops-eda", 0o640),
        "/etc/aiops-rulebook/secret.env": ("root", "root", 0o600),
        "/var/lib/aiops-rulebook": ("aiops-eda", "aiops-eda", 0o750),
        "/etc/systemd/system/aiops-rulebook.service": ("root", "root", 0o644),
    }
    for path, (owner, group, mode) in expected.items():
        f = host.file(path)
        assert f.exists, path
        assert (f.user, f.group, f.mode) == (owner, group, mode), path
    collection = "/opt/aiops-rulebook/collections/ansible_collections/aiops/agent"
    assert host.file(f"{collection}/extensions/eda/rulebooks/remediation.yml").exists
    assert host.file(f"{collection}/MANIFEST.json").exists


def test_inventory_of_the_fleet_and_settings(host):
    inventory = yaml.safe_load(host.file("/etc/aiops-rulebook/inventory/hosts.yml").content_string)
    fleet = inventory["all"]["hosts"]
    assert set(fleet) == {"web-1.example.test", "web-2.example.test"}
    assert fleet["web-1.example.test"]["ansible_host"] == "192.0.2.10"
    assert fleet["web-1.example.test"]["ansible_user"] == "ops"
    assert fleet["web-1.example.test"]["aiops_remediation_alerts"] == {
        "HostFilesystemSpace": ["clean_files"]
    }
    assert fleet["web-2.example.test"] == {"ansible_host": "192.0.2.11"}
    settings = yaml.safe_load(
        host.file("/etc/aiops-rulebook/inventory/group_vars/all.yml").content_string
    )
    assert settings["aiops_remediation_ledger"] == "/var/lib/aiops-rulebook/actions.jsonl"
    assert settings["aiops_remediation_kill_switch_file"] == "/etc/aiops-rulebook/disabled"
    assert settings["aiops_remediation_units"] == {"demo": "demo.service"}
    variables = yaml.safe_load(host.file("/etc/aiops-rulebook/vars.yml").content_string)
    assert variables["aiops_remediation_hosts"] == ["web-1.example.test", "web-2.example.test"]
    assert variables["aiops_remediation_alertnames"] == ["DemoDown", "HostFilesystemSpace"]
    assert variables["aiops_eda_port"] == 5000
    assert SECRET not in str(variables) + str(settings) + str(inventory)


def test_service_runs_sandboxed_as_its_user(host):
    service = host.service(SERVICE)
    assert service.is_enabled and service.is_running
    pid = host.check_output(f"systemctl show -p MainPID --value {SERVICE}")
    assert host.check_output(f"ps -o user= -p {pid}") == "aiops-eda"
    out = host.check_output(f"systemd-analyze security --no-pager {SERVICE}.service")
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    print(f"systemd-analyze security {SERVICE}: {score}")
    assert score <= 3.0, out


def test_webhook_verifies_signatures(host):
    body = alert("ghost-1.example.test", "DemoDown", "k-ghost")
    assert post(host, body, None) == 400
    assert post(host, body, signed(body, "not-the-secret")) == 401
    assert post(host, body, signed(body)) == 200
    message = "DemoDown from host ghost-1.example.test, which is not in the inventory: nothing done"
    deadline = time.monotonic() + 60
    while message not in host.run(f"journalctl -u {SERVICE} --no-pager").stdout:
        assert time.monotonic() < deadline, "the rulebook did not report the unknown host"
        time.sleep(1)
    assert SECRET not in host.run(f"journalctl -u {SERVICE} --no-pager").stdout
