"""The SBOM the release attaches (scripts/sbom.py, from requirements-runtime.lock) is valid
CycloneDX 1.6, checked offline against the schema cyclonedx-python-lib ships, and lists the agent
and every runtime dependency at its locked version, with hashes and a dependency graph."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.helpers.locks import ROOT, RUNTIME_LOCK, wheelhouse


def schema_errors(document: dict[str, Any]) -> str | None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    # The message ends with the whole schema; its first lines say what is wrong.
    return None if error is None else "\n".join(str(error).splitlines()[:6])


def coverage_problems(document: dict[str, Any]) -> list[str]:
    """What the SBOM lacks: a locked package (name and version), its hashes, the agent as the
    root component, the agent's edges to its direct dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    problems = []
    root = document.get("metadata", {}).get("component", {})
    if (root.get("name"), root.get("version")) != (project["name"], project["version"]):
        problems.append(f"root component {root.get('name')} {root.get('version')}")
    listed = {(c["name"], c["version"]): c for c in document.get("components", [])}
    for pin in wheelhouse.read_lock(RUNTIME_LOCK):
        component = listed.get((pin.name, pin.version))
        if component is None:
            problems.append(f"{pin.name}=={pin.version} is not listed")
        elif {h["content"] for h in component.get("hashes", [])} != pin.hashes:
            problems.append(f"{pin.name}=={pin.version}: hashes differ from the lock")
    edges = {d["ref"]: set(d.get("dependsOn", [])) for d in document.get("dependencies", [])}
    direct = {name for name, _ in listed if name in ("pyyaml", "requests")}
    reached = {ref.split("/")[1].split("@")[0] for ref in edges.get(root.get("bom-ref", ""), ())}
    if direct - reached:
        problems.append(f"the agent's dependencies on {sorted(direct - reached)} are missing")
    return problems


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("sbom") / "aiops-agent.cdx.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sbom.py"), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(output.read_text())
    return document


def test_sbom_is_valid_cyclonedx(generated: dict[str, Any]) -> None:
    assert schema_errors(generated) is None, schema_errors(generated)


def test_sbom_lists_every_runtime_dependency(generated: dict[str, Any]) -> None:
    assert not coverage_problems(generated)
    names = {c["name"] for c in generated["components"]}
    # The closure, not only the direct dependencies.
    assert {"pyyaml", "requests", "urllib3", "idna", "certifi", "charset-normalizer"} <= names


def test_sbom_is_reproducible(generated: dict[str, Any], tmp_path: Path) -> None:
    again = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sbom.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(again.stdout) == generated


def test_a_broken_sbom_is_caught(generated: dict[str, Any]) -> None:
    """The checks can fail: a dependency left out, and a field the schema does not allow."""
    missing = copy.deepcopy(generated)
    missing["components"] = [c for c in missing["components"] if c["name"] != "idna"]
    assert any(p.startswith("idna==") for p in coverage_problems(missing))
    invalid = copy.deepcopy(generated)
    invalid["components"][0]["hashes"][0]["alg"] = "SHA-0"
    assert schema_errors(invalid) is not None
