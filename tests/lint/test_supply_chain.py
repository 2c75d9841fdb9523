"""The hashed lock files (scripts/lock.sh) stay in step with what they lock, offline: every
dependency that pyproject.toml or requirements-dev.txt asks for has exactly one pin, with hashes,
inside its specifier, on every Python and machine the lock claims; nothing is locked as a direct
dependency that no longer is one; the dev lock installs the runtime and build dependencies at the
versions the runtime and build locks give them. A failure names the lock to regenerate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

from tests.helpers.locks import BUILD_LOCK, DEV_LOCK, RELEASE_LOCK, ROOT, RUNTIME_LOCK, wheelhouse

MACHINES = ("x86_64", "aarch64")
# The fleet's Pythons (the agent's requires-python up to the newest release tested; the role
# knows a host's minor version only) and the test venv's (Debian 12's, Debian 13's, this
# project's machines' 3.11.7: the dev lock tells 3.11 patch releases apart).
RUNTIME_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
DEV_PYTHONS = ("3.11.2", "3.11.7", "3.13.5")
REGENERATE = "regenerate the locks with scripts/lock.sh"


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_requirements(project: dict[str, Any]) -> list[str]:
    return [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["notify"],
        # The image and the role's wheelhouse ship basic auth's bcrypt (the web extra).
        *project["project"]["optional-dependencies"]["web"],
    ]


def requirement_lines(path: Path) -> list[str]:
    """The requirements of a requirements file, following -r."""
    found: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += requirement_lines(path.parent / line[3:].strip())
        elif line:
            found.append(line)
    return found


def build_requirements(project: dict[str, Any]) -> list[str]:
    """pyproject's build backend, and requirements-build.in (Cython for PyYAML's sdist)."""
    return [
        *project["build-system"]["requires"],
        *requirement_lines(ROOT / "requirements-build.in"),
    ]


def dev_requirements(project: dict[str, Any]) -> list[str]:
    """requirements-dev.txt, the extras test, web and notify, the runtime and build
    requirements: what requirements-dev.lock must pin."""
    extras = project["project"]["optional-dependencies"]
    return [
        *requirement_lines(ROOT / "requirements-dev.txt"),
        *extras["test"],
        *extras["web"],
        *runtime_requirements(project),
        *build_requirements(project),
    ]


def lock_problems(
    requirements: list[str], lock: Path, text: str, pythons: tuple[str, ...]
) -> list[str]:
    """Why `text` (a lock's content) does not lock `requirements`, or nothing."""
    copy = lock.parent / f".{lock.name}.checked"
    problems = []
    try:
        copy.write_text(text)
        pins = wheelhouse.read_lock(copy)
        for python in pythons:
            for machine in MACHINES:
                chosen = wheelhouse.pins_for(pins, python, machine, copy)
                for line in requirements:
                    requirement = Requirement(line)
                    environment = {
                        "python_version": ".".join(python.split(".")[:2]),
                        "platform_machine": machine,
                    }
                    if requirement.marker and not requirement.marker.evaluate(environment):
                        continue
                    name = wheelhouse.canonical(requirement.name)
                    versions = [pin.version for pin in chosen if pin.name == name]
                    if len(versions) != 1:
                        problems.append(
                            f"{lock.name}: {len(versions)} pins of {name} for Python {python} on "
                            f"{machine} (wanted one, for {line!r})"
                        )
                    elif not requirement.specifier.contains(versions[0], prereleases=True):
                        problems.append(
                            f"{lock.name}: {name}=={versions[0]} is outside {line!r} "
                            f"(Python {python})"
                        )
    finally:
        copy.unlink(missing_ok=True)
    return sorted(set(problems))


def direct_dependencies(text: str, source: str) -> set[str]:
    """The pins uv marks as wanted by `source` itself (`# via ... (pyproject.toml)`)."""
    names, current = set(), ""
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            current = wheelhouse.canonical(match.group(1))
        elif f"({source})" in line and current:
            names.add(current)
    return names


def test_runtime_lock_is_current() -> None:
    problems = lock_problems(
        runtime_requirements(pyproject()), RUNTIME_LOCK, RUNTIME_LOCK.read_text(), RUNTIME_PYTHONS
    )
    assert not problems, "\n".join([*problems, REGENERATE])


def test_runtime_lock_has_no_dependency_that_pyproject_dropped() -> None:
    wanted = {
        wheelhouse.canonical(Requirement(line).name) for line in runtime_requirements(pyproject())
    }
    locked = direct_dependencies(RUNTIME_LOCK.read_text(), "pyproject.toml")
    message = f"direct dependencies locked {sorted(locked)}, in pyproject {sorted(wanted)}"
    assert locked == wanted, f"{message}: {REGENERATE}"


def test_build_lock_is_current() -> None:
    requirements = build_requirements(pyproject())
    problems = lock_problems(requirements, BUILD_LOCK, BUILD_LOCK.read_text(), RUNTIME_PYTHONS)
    assert not problems, "\n".join([*problems, REGENERATE])


def test_release_lock_is_current() -> None:
    requirements = requirement_lines(ROOT / "requirements-release.in")
    problems = lock_problems(requirements, RELEASE_LOCK, RELEASE_LOCK.read_text(), ("3.11",))
    assert not problems, "\n".join([*problems, REGENERATE])


def test_dev_lock_is_current() -> None:
    requirements = dev_requirements(pyproject())
    problems = lock_problems(requirements, DEV_LOCK, DEV_LOCK.read_text(), DEV_PYTHONS)
    assert not problems, "\n".join([*problems, REGENERATE])


@pytest.mark.parametrize("other", [RUNTIME_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_dev_lock_agrees_with(other: Path) -> None:
    """The test venv runs the versions the fleet and the image get."""
    dev, locked = wheelhouse.read_lock(DEV_LOCK), wheelhouse.read_lock(other)
    problems = []
    for python in DEV_PYTHONS:
        for machine in MACHINES:
            want = {p.name: p.version for p in wheelhouse.pins_for(locked, python, machine, other)}
            have = {p.name: p.version for p in wheelhouse.pins_for(dev, python, machine, DEV_LOCK)}
            problems += [
                f"{name}: {other.name} {version}, {DEV_LOCK.name} {have.get(name)} (Python {python})"
                for name, version in want.items()
                if have.get(name) != version
            ]
    assert not problems, "\n".join([*problems, REGENERATE])


def test_a_stale_lock_is_reported() -> None:
    """The checks above can fail: a raised floor, a new dependency and a lock entry without its
    hashes are each caught."""
    text = RUNTIME_LOCK.read_text()
    raised = lock_problems(["PyYAML>=99"], RUNTIME_LOCK, text, RUNTIME_PYTHONS)
    assert any("pyyaml==" in p and "outside" in p for p in raised), raised
    added = lock_problems(["rich>=13"], RUNTIME_LOCK, text, RUNTIME_PYTHONS)
    assert any("0 pins of rich" in p for p in added), added
    assert "requests" in direct_dependencies(text, "pyproject.toml")
    unhashed = re.sub(
        r"(?m)^(idna==[^\s]+) \\\n(\s+--hash=\S+ \\\n)*\s+--hash=\S+\n", r"\1\n", text
    )
    assert unhashed != text
    with pytest.raises(SystemExit):
        lock_problems(["idna"], RUNTIME_LOCK, unhashed, ("3.11",))


def release_jobs() -> dict[str, Any]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    jobs: dict[str, Any] = workflow["jobs"]
    return jobs


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def test_release_produces_the_sbom_and_signs_with_the_least_privilege() -> None:
    """The release builds the SBOM, signs the image by digest and each file with a bundle, and
    only the signing job may request an OIDC token; every pip install there checks hashes."""
    jobs = release_jobs()
    with_token = [name for name, job in jobs.items() if job["permissions"].get("id-token")]
    assert with_token == ["sign"], with_token
    assert "scripts/sbom.py" in run_lines(jobs["dist"])
    image_step = next(s for s in jobs["image"]["steps"] if "build-push-action" in s.get("uses", ""))
    assert image_step["with"].get("sbom") is True
    signing = run_lines(jobs["sign"])
    assert "cosign sign --yes" in signing and "@${DIGEST}" in signing
    assert "cosign sign-blob --yes --bundle" in signing
    assert "sign" in jobs["release"]["needs"]
    for name, job in jobs.items():
        for line in run_lines(job).splitlines():
            if re.search(r"pip install\b", line):
                assert "--require-hashes" in line, f"{name}: {line.strip()}"
