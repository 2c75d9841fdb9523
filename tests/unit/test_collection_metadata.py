"""What must stay in step across the collection: its version and the package's, and the pins of
the rulebook service (role aiops_rulebook) and of the EDA test environment (requirements-eda.txt)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_collection_version_is_the_package_version() -> None:
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject, re.MULTILINE)
    assert match is not None
    assert (galaxy["namespace"], galaxy["name"]) == ("aiops", "agent")
    assert galaxy["version"] == match.group(1), (
        f"galaxy.yml version {galaxy['version']} != pyproject.toml version {match.group(1)}"
    )


def test_rulebook_role_installs_the_tested_pins() -> None:
    defaults = yaml.safe_load((ROOT / "roles/aiops_rulebook/defaults/main.yml").read_text())
    lines = (ROOT / "requirements-eda.txt").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(defaults["aiops_rulebook_pip_packages"]) == sorted(pins)
