"""The role's wheelhouse (roles/aiops_agent/files/build_wheelhouse.py) as the role runs it: the
dependencies come at the versions and sha256 of requirements-runtime.lock (from the package index
or pip's cache), and a host installs its bundle offline with --require-hashes. A target whose
Python or machine has no PyYAML wheel gets the hashed sdist and the build lock's wheels, and
builds PyYAML from them, still offline. A file whose hash the lock does not list is refused."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.locks import BUILD_WHEELHOUSE, ROOT, RUNTIME_LOCK

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
HERE = f"{PYTHON}:{platform.machine()}"
# PyYAML publishes no riscv64 wheel; every other runtime dependency has a pure-Python one, so
# this bundle installs on this machine too, building PyYAML from its sdist.
NO_WHEEL = f"{PYTHON}:riscv64"


def build(wheelhouse: Path, lock: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    target_args = [arg for target in targets for arg in ("--target", target)]
    return subprocess.run(
        [sys.executable, str(BUILD_WHEELHOUSE), "--wheelhouse", str(wheelhouse),
         "--lock", str(lock), "--source", str(ROOT), *target_args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = build(tmp_path_factory.mktemp("wheelhouse"), RUNTIME_LOCK, HERE, NO_WHEEL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def install_offline(bundle: Path, work: Path) -> Path:
    """What the role does on a host: unpack, new venv, pip --require-hashes --no-index."""
    unpacked, venv = work / "wheelhouse", work / "venv"
    unpacked.mkdir()
    with tarfile.open(bundle) as archive:
        archive.extractall(unpacked, filter="data")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # No configuration of this machine's pip (its extra indexes and find-links), no index.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q",
         "--require-hashes", "--no-index", "--find-links", str(unpacked),
         "-r", str(unpacked / "requirements.txt")],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


def locked_versions(requirements: str) -> dict[str, str]:
    return dict(re.findall(r"(?m)^([a-z0-9-]+)==(\S+)", requirements))


def test_bundle_installs_offline_with_hashes(built: dict[str, Any], tmp_path: Path) -> None:
    target = built["targets"][HERE]
    assert not [f for f in target["files"] if f.endswith(".tar.gz")], target["files"]
    venv = install_offline(Path(target["bundle"]), tmp_path)
    with tarfile.open(target["bundle"]) as archive:
        member = archive.extractfile("requirements.txt")
        assert member is not None
        requirements = member.read().decode()
    versions = locked_versions(requirements)
    # bcrypt (basic auth) ships with the role's install, as with the image.
    assert {"pyyaml", "requests", "urllib3", "bcrypt"} <= set(versions)
    assert target["without"] == [], target
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.metadata as m, sys\n"
         "for name in sys.argv[1:]: print(name, m.version(name))", *versions],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert dict(line.split() for line in installed.splitlines()) == versions
    version = subprocess.run(
        [str(venv / "bin" / "aiops-agent"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0, version.stderr


def test_a_python_without_wheels_builds_pyyaml_from_the_hashed_sdist(
    built: dict[str, Any], tmp_path: Path
) -> None:
    files = built["targets"][NO_WHEEL]["files"]
    assert [f for f in files if f.startswith("pyyaml-")] == [
        next(f for f in files if f.startswith("pyyaml-") and f.endswith(".tar.gz"))
    ]
    assert any(f.startswith("setuptools-") for f in files), files
    assert any(f.startswith("cython-") for f in files), files
    # bcrypt has no riscv64 wheel and its sdist needs Rust: that target goes without basic auth.
    assert built["targets"][NO_WHEEL]["without"] == ["bcrypt"], built["targets"][NO_WHEEL]
    assert not [f for f in files if f.startswith("bcrypt-")], files
    venv = install_offline(Path(built["targets"][NO_WHEEL]["bundle"]), tmp_path)
    loads = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import yaml; print(yaml.safe_load('a: [1, 2]'))"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert loads.stdout.strip() == "{'a': [1, 2]}", loads.stderr


def test_a_file_the_lock_does_not_hash_is_refused(tmp_path: Path) -> None:
    """A lock whose PyYAML hashes are not those of the index's files: no bundle."""
    text = RUNTIME_LOCK.read_text()
    tampered, count = re.subn(
        r"(?m)^(pyyaml==\S+[^\n]*\\\n)((?:\s+--hash=sha256:[0-9a-f]{64} \\\n)*\s+--hash=sha256:[0-9a-f]{64})",
        lambda m: m.group(1) + f"    --hash=sha256:{'0' * 64}",
        text,
    )
    assert count >= 1
    lock = tmp_path / "requirements-runtime.lock"
    lock.write_text(tampered)
    (tmp_path / "requirements-build.lock").write_text(
        (ROOT / "requirements-build.lock").read_text()
    )
    result = build(tmp_path / "wheelhouse", lock, HERE)
    assert result.returncode == 1
    message = json.loads(result.stdout)["msg"]
    assert "HASH" in message.upper() and "pyyaml" in message.lower(), message
    assert not list((tmp_path / "wheelhouse").glob("bundles/*.tar"))
