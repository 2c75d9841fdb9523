"""Fill the controller's wheelhouse for an air-gapped install: the agent's wheel (built from the
repo) and, per target Python and architecture, every dependency wheel it needs.

    build_wheelhouse.py --wheelhouse DIR [--source REPO] [--version V] --target 3.11:x86_64 ...

Layout: DIR/agent/aiops_agent-V-py3-none-any.whl, DIR/cp311-x86_64/*.whl (dependencies only) and
DIR/bundles/aiops-agent-V-cp311-x86_64.tar: the agent and its dependencies in one reproducible tar
(sorted, zero mtimes and owners), so a host gets one file to copy, unchanged when its content is.
Work already done is skipped (a stamp records the source digest and the wheel's requirements), so
a second run changes nothing and needs no network. Prints one JSON object: changed, version,
agent_wheel, and per target its bundle. Runs on the controller only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

SOURCE_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
SOURCE_DIRS = ("agent",)
SKIP_PARTS = ("__pycache__", ".egg-info", ".mypy_cache", ".pytest_cache")
EXTRAS = "notify"


def fail(message: str) -> None:
    print(json.dumps({"failed": True, "msg": message}))
    sys.exit(1)


def source_version(source: Path) -> str:
    text = (source / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not match:
        fail(f"no version in {source / 'pyproject.toml'}")
    return match.group(1)


def source_files(source: Path) -> list[Path]:
    files = [source / name for name in SOURCE_FILES if (source / name).is_file()]
    for directory in SOURCE_DIRS:
        for path in sorted((source / directory).rglob("*")):
            if path.is_file() and not any(p in str(path) for p in SKIP_PARTS) and path.suffix != ".pyc":
                files.append(path)
    return files


def digest(source: Path, files: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in files:
        sha.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def build_agent_wheel(source: Path, agent_dir: Path, version: str) -> bool:
    """Build the agent's wheel from a clean copy of the source, unless the same source was built."""
    files = source_files(source)
    want = digest(source, files)
    wheel = agent_dir / f"aiops_agent-{version}-py3-none-any.whl"
    stamp = agent_dir / f".aiops_agent-{version}.source-sha256"
    if wheel.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return False
    agent_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiops-wheel-") as tmp:
        copy = Path(tmp) / "src"
        for path in files:
            target = copy / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        out = Path(tmp) / "out"
        # Without build isolation first: works on a controller with no index (setuptools present).
        result = pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(copy))
        if result.returncode != 0:
            result = pip("wheel", "--no-deps", "-q", "-w", str(out), str(copy))
        if result.returncode != 0:
            fail(f"building the agent wheel from {source} failed:\n{result.stderr[-3000:]}")
        built = list(out.glob("aiops_agent-*.whl"))
        if len(built) != 1 or built[0].name != wheel.name:
            fail(f"expected {wheel.name}, pip built {[p.name for p in built]}")
        tmp_wheel = agent_dir / (wheel.name + ".tmp")
        shutil.copy2(built[0], tmp_wheel)
        os.replace(tmp_wheel, wheel)
    stamp.write_text(want + "\n")
    return True


def requirements(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode("utf-8")
    return "\n".join(line for line in metadata.splitlines() if line.startswith("Requires-Dist:"))


def fill_target(wheelhouse: Path, wheel: Path, target: str) -> tuple[str, list[str], bool]:
    """Download the dependency wheels of `wheel` (with its extras) for one Python and machine."""
    python_version, _, machine = target.partition(":")
    if not re.fullmatch(r"3\.\d+", python_version) or not re.fullmatch(r"[a-z0-9_]+", machine):
        fail(f"target {target!r} is not PYTHON_VERSION:MACHINE, e.g. 3.11:x86_64")
    tag = f"cp{python_version.replace('.', '')}-{machine}"
    directory = wheelhouse / tag
    stamp = directory / ".requirements-sha256"
    want = hashlib.sha256(requirements(wheel).encode()).hexdigest()
    changed = False
    if not (stamp.is_file() and stamp.read_text().strip() == want):
        directory.mkdir(parents=True, exist_ok=True)
        common = [
            "download", "-q", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", python_version, "--platform", f"manylinux2014_{machine}",
            "-d", str(directory), f"{wheel}[{EXTRAS}]",
        ]
        # Offline first (wheels already here or in PIP_FIND_LINKS), then the configured index.
        result = pip(*common[:1], "--no-index", "--find-links", str(directory), *common[1:])
        if result.returncode != 0:
            result = pip(*common)
        if result.returncode != 0:
            fail(f"downloading the dependency wheels for {target} failed:\n{result.stderr[-3000:]}")
        for stray in directory.glob("aiops_agent-*.whl"):
            stray.unlink()
        stamp.write_text(want + "\n")
        changed = True
    files = sorted(p.name for p in directory.glob("*.whl"))
    return tag, files, changed


def bundle(wheelhouse: Path, wheel: Path, tag: str, files: list[str]) -> Path:
    """One tar of the agent wheel and the target's dependency wheels, byte-for-byte reproducible."""
    directory = wheelhouse / "bundles"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{wheel.name.split('-py3')[0].replace('aiops_agent', 'aiops-agent')}-{tag}.tar"
    members = sorted([(wheel.name, wheel)] + [(name, wheelhouse / tag / name) for name in files])
    tmp = path.with_suffix(".tar.tmp")
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as archive:
        for name, source in members:
            info = tarfile.TarInfo(name)
            info.size = source.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with source.open("rb") as handle:
                archive.addfile(info, handle)
    if path.is_file() and path.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        os.replace(tmp, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheelhouse", required=True, type=Path)
    parser.add_argument("--source", type=Path, help="repo to build the agent wheel from")
    parser.add_argument("--version", default="", help="agent version (default: the source's)")
    parser.add_argument("--target", action="append", default=[], help="PYTHON_VERSION:MACHINE")
    args = parser.parse_args()
    wheelhouse = args.wheelhouse.resolve()
    changed = False
    version = args.version
    if args.source:
        source = args.source.resolve()
        built_version = source_version(source)
        version = version or built_version
        if built_version == version:
            changed |= build_agent_wheel(source, wheelhouse / "agent", version)
    if not version:
        fail("no agent version: set aiops_agent_version or give the source to build from")
    wheel = wheelhouse / "agent" / f"aiops_agent-{version}-py3-none-any.whl"
    if not wheel.is_file():
        fail(f"{wheel} does not exist: build it (pip wheel --no-deps) or pick another version")
    targets = {}
    for target in args.target:
        tag, files, target_changed = fill_target(wheelhouse, wheel, target)
        path = bundle(wheelhouse, wheel, tag, files)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        targets[target] = {"bundle": str(path), "sha256": sha, "files": [wheel.name, *files]}
        changed |= target_changed
    print(json.dumps({"changed": changed, "version": version, "agent_wheel": str(wheel),
                      "targets": targets}))


if __name__ == "__main__":
    main()
