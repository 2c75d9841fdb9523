#!/usr/bin/env python3
"""Write the CycloneDX 1.6 SBOM (JSON) of the agent's runtime dependency closure, from the hashed
lock that the role's wheelhouse and the image install (requirements-runtime.lock):

    scripts/sbom.py [--wheel dist/aiops_agent-V-py3-none-any.whl] [-o aiops-agent-V.cdx.json]

The root component is the agent (name, version and licence from pyproject.toml, and the wheel's
sha256 when given); every locked package is a component with its version, purl and the sha256 of
each of its files on the index (any of which a host may install: wheels per Python and machine, or
the sdist), and the environment marker under which it is installed (the lock pins some packages
per Python version); `dependencies` follows the lock's `# via` comments. Nothing is fetched, and
the output depends on its inputs only (no timestamp, a serial number derived from the content).
tests/lint/test_sbom.py validates it against the CycloneDX schema; the release attaches it.
Standard library only (and packaging, or pip's copy of it), so the release needs no install.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# Where the lock says a package is installed: the Pythons the fleet runs (the edges of the
# dependency graph join the packages that are installed together on one of them).
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
MARKER_PROPERTY = "aiops-agent:environment-marker"


def load_lock_reader() -> ModuleType:
    """The role's wheelhouse builder reads the lock the same way when it fills a wheelhouse."""
    path = ROOT / "roles" / "aiops_agent" / "files" / "build_wheelhouse.py"
    spec = importlib.util.spec_from_file_location("build_wheelhouse", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def via(text: str) -> dict[str, set[str]]:
    """name==version -> the canonical names that require it (`# via` comments of uv or
    pip-compile); the project itself is "" ."""
    reader = load_lock_reader()
    parents: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if pin:
            current = f"{reader.canonical(pin.group(1))}=={pin.group(2)}"
            parents[current] = set()
            continue
        comment = re.match(r"^\s+#\s+(?:via\s+)?(.+)$", line)
        if comment and current and not line.strip().startswith("--hash"):
            for entry in (e.strip() for e in comment.group(1).split(",")):
                if entry and entry != "via":
                    parents[current].add("" if "(" in entry else reader.canonical(entry.split()[0]))
    return parents


def sbom(lock: Path, pyproject: Path, wheel: Path | None) -> dict[str, Any]:
    reader = load_lock_reader()
    text = lock.read_text(encoding="utf-8")
    pins = reader.read_lock(lock)
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    name, version = project["name"], project["version"]
    root_ref = f"pkg:pypi/{name}@{version}"
    root: dict[str, Any] = {
        "type": "application",
        "bom-ref": root_ref,
        "name": name,
        "version": version,
        "description": project.get("description", ""),
        "licenses": [{"expression": project["license"]}],
        "purl": root_ref,
    }
    if wheel:
        root["hashes"] = [
            {"alg": "SHA-256", "content": hashlib.sha256(wheel.read_bytes()).hexdigest()}
        ]
    components = []
    for pin in pins:
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": f"pkg:pypi/{pin.name}@{pin.version}",
            "name": pin.name,
            "version": pin.version,
            "purl": f"pkg:pypi/{pin.name}@{pin.version}",
            "hashes": [{"alg": "SHA-256", "content": h} for h in sorted(pin.hashes)],
        }
        if pin.marker:
            component["properties"] = [{"name": MARKER_PROPERTY, "value": pin.marker}]
        components.append(component)

    # Edges: a parent version depends on a child version when both are installed together on
    # some Python the fleet runs (a lock forked by Python version pins both sides per fork).
    installed = {
        python: {f"{p.name}=={p.version}" for p in reader.pins_for(pins, python, "x86_64", lock)}
        for python in PYTHONS
    }
    edges: dict[str, set[str]] = {root_ref: set()}
    for child, parents in via(text).items():
        child_ref = "pkg:pypi/{}@{}".format(*child.split("=="))
        for parent in parents:
            if parent == "":
                edges[root_ref].add(child_ref)
                continue
            for present in installed.values():
                for candidate in present if child in present else ():
                    if candidate.split("==")[0] == parent:
                        parent_ref = "pkg:pypi/{}@{}".format(*candidate.split("=="))
                        edges.setdefault(parent_ref, set()).add(child_ref)
    for component in components:
        edges.setdefault(component["bom-ref"], set())
    dependencies = [{"ref": ref, "dependsOn": sorted(on)} for ref, on in sorted(edges.items())]

    document: dict[str, Any] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "component": root,
            "tools": {
                "components": [{"type": "application", "name": "aiops-agent scripts/sbom.py"}]
            },
            "properties": [{"name": "aiops-agent:lock", "value": lock.name}],
        },
        "components": components,
        "dependencies": dependencies,
    }
    content = json.dumps(document, sort_keys=True).encode()
    document["serialNumber"] = (
        f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, hashlib.sha256(content).hexdigest())}"
    )
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements-runtime.lock")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--wheel", type=Path, help="the agent's wheel: its sha256 goes in the SBOM")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args()
    text = json.dumps(sbom(args.lock, args.pyproject, args.wheel), indent=2, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
