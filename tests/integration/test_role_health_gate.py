"""The role's health gate (roles/aiops_agent/tasks/verify.yml) on its failure paths, run alone by
ansible-playbook against a real agent on loopback: a host whose agent answers /healthz with
another version than the one deployed, or does not answer at all, fails, and the failure says
what /healthz answered and what was asked for. Molecule exercises the gate's success path
(upgrade, downgrade); this is the check that it can stop a rolling update."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from aiops_agent import __version__
from tests.helpers.agentproc import running_agent
from tests.helpers.ansible import run_playbook

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GATE_PLAYBOOK = """\
- name: The role's health gate, alone
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Check the agent as the role does after a change
      ansible.builtin.include_role:
        name: aiops_agent
        tasks_from: verify.yml
"""


def gate(where: Path, listen: str, **variables: Any) -> tuple[int, str]:
    """Run the gate against `listen` as a host checked on every run (health_check_always)."""
    (where / "gate.yml").write_text(GATE_PLAYBOOK, encoding="utf-8")
    (where / "vars.json").write_text(
        json.dumps(
            {
                "aiops_agent_listen_address": listen,
                "aiops_agent_health_check_always": True,
                "aiops_agent_health_retries": 2,
                "aiops_agent_health_delay": 0,
                **variables,
            }
        ),
        encoding="utf-8",
    )
    result = run_playbook(
        "gate.yml",
        "-e",
        "@vars.json",
        cwd=where,
        environ={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    return result.returncode, result.stdout


def test_the_gate_passes_the_version_asked_for_and_fails_another(tmp_path: Path) -> None:
    with running_agent({}) as agent:
        listen = f"{agent.host}:{agent.port}"
        code, output = gate(tmp_path, listen, aiops_agent_target_version=__version__)
        assert code == 0, output
        assert "failed=0" in output, output

        code, output = gate(tmp_path, listen, aiops_agent_target_version="0.0.1")
    assert code != 0, output
    assert "aiops-agent is not healthy on localhost" in output, output
    assert "version asked for:" in output and "0.0.1" in output, output
    assert f"'version': '{__version__}'" in output, output  # what /healthz answered


def test_the_gate_fails_a_host_whose_agent_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as unused:  # a loopback port nobody listens on once this closes
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    code, output = gate(tmp_path, f"127.0.0.1:{port}", aiops_agent_target_version=__version__)
    assert code != 0, output
    assert "aiops-agent is not healthy on localhost" in output, output
    assert "/healthz: no answer" in output, output
