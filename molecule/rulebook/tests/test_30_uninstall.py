"""aiops_rulebook_state: absent removes the service and what the role installed, keeps the
ledger (the record of what remediation did), and a second run changes nothing."""

from __future__ import annotations

from conftest import SERVICE, run_playbook


def test_uninstall(host):
    host.run("install -o aiops-eda -m 0640 /dev/null /var/lib/aiops-rulebook/actions.jsonl")
    first = run_playbook("-e", "aiops_rulebook_state=absent")
    assert first.returncode == 0
    assert not host.file(f"/etc/systemd/system/{SERVICE}.service").exists
    assert host.run(f"systemctl is-active {SERVICE}").stdout.strip() != "active"
    for path in ("/opt/aiops-rulebook", "/etc/aiops-rulebook", "/var/lib/aiops-rulebook/.ssh"):
        assert not host.file(path).exists, path
    assert host.file("/var/lib/aiops-rulebook/actions.jsonl").exists
    assert not host.user("aiops-eda").exists
    second = run_playbook("-e", "aiops_rulebook_state=absent")
    assert second.returncode == 0 and "changed=0" in second.stdout
