"""aiops_agent_state=absent removes everything the role created (runs last)."""

from __future__ import annotations

import pytest
from conftest import recap, run_playbook


@pytest.fixture(scope="module")
def uninstall():
    first = run_playbook("-e", "aiops_agent_state=absent")
    return first


def test_uninstall_succeeds(uninstall):
    assert uninstall.returncode == 0, uninstall.stdout[-3000:]
    assert all(c["changed"] > 0 for c in recap(uninstall.stdout).values())


def test_nothing_left_behind(uninstall, host):
    for path in (
        "/opt/aiops-agent",
        "/etc/aiops-agent",
        "/var/lib/aiops-agent",
        "/var/lib/aiops-agent-textfile",
        "/etc/systemd/system/aiops-agent.service",
        "/etc/ansible/facts.d/aiops_agent.fact",
        "/etc/ansible",
    ):
        assert not host.file(path).exists, path
    assert not host.user("aiops-agent").exists
    assert not host.group("aiops-agent").exists
    assert host.run("pgrep -x aiops-agent").rc != 0
    assert "aiops-agent" not in host.check_output("systemctl list-unit-files --no-legend")
    assert host.run("systemctl is-active aiops-agent").stdout.strip() in ("inactive", "unknown")
