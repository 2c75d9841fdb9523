"""docs/install.md shows the systemd unit for installing by hand; it must be the unit that
roles/aiops_agent renders with its defaults, directive for directive (user, state directory, config
path, watchdog, every sandboxing setting), so a hardening change to the role cannot leave the
hand-installed hosts behind. The role's template is rendered by ansible-playbook itself."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from tests.helpers.ansible import run_playbook

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "install.md"
ROLE = ROOT / "roles" / "aiops_agent"


def directives(unit: str) -> list[str]:
    """Section headers and KEY=VALUE lines, in order; comments and blank lines left out."""
    return [
        line.strip()
        for line in unit.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", ";"))
    ]


def documented_unit() -> str:
    blocks = re.findall(r"```ini\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, f"{DOC}: expected one ```ini block (the unit), found {len(blocks)}"
    return str(blocks[0])


def rendered_unit(directory: Path) -> str:
    out = directory / "aiops-agent.service"
    tasks = [
        f"    - ansible.builtin.include_vars: {{file: {ROOT / 'roles/aiops_agent_config/defaults/main.yml'}}}",
        f"    - ansible.builtin.include_vars: {{file: {ROLE / 'defaults/main.yml'}}}",
        f"    - ansible.builtin.include_vars: {{file: {ROLE / 'vars/main.yml'}}}",
        f"    - ansible.builtin.template: {{src: {ROLE / 'templates/aiops-agent.service.j2'}, "
        f"dest: {out}, mode: '0644'}}",
    ]
    playbook = directory / "render-unit.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  vars:\n    ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
        "  tasks:\n" + "\n".join(tasks) + "\n"
    )
    result = run_playbook(str(playbook))
    assert result.returncode == 0, result.stdout[-6000:]
    return out.read_text(encoding="utf-8")


def test_documented_unit_is_the_roles_unit(tmp_path: Path) -> None:
    documented = directives(documented_unit())
    role = directives(rendered_unit(tmp_path))
    diff = "\n".join(difflib.unified_diff(role, documented, "role", "docs/install.md", lineterm=""))
    assert documented == role, f"docs/install.md's unit differs from the role's:\n{diff}"
    # What a hand install depends on, named so a failure says which promise broke.
    for expected in (
        "User=aiops-agent",
        "StateDirectory=aiops-agent",
        "ExecStart=/opt/aiops-agent/venv/bin/aiops-agent run --config /etc/aiops-agent/config.yaml",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ):
        assert expected in documented, expected
