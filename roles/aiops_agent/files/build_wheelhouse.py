"""Fill the controller's wheelhouse for an air-gapped install: the agent's wheel (built from the
repo) and, per target Python and architecture, every dependency it needs at the version and hash
of the lock file (requirements-runtime.lock, written by scripts/lock.sh).

    build_wheelhouse.py --wheelhouse DIR --lock LOCK [--build-lock LOCK] [--source REPO]
                        [--version V] --target 3.11:x86_64 ...

Layout: DIR/agent/aiops_agent-V-py3-none-any.whl, DIR/cp311-x86_64/ (the dependencies) and
DIR/bundles/aiops-agent-V-cp311-x86_64.tar: the agent, its dependencies and requirements.txt (the
lock's entries for that target and the agent's wheel, each with its sha256) in one reproducible
tar (sorted, zero mtimes and owners), so a host gets one file to copy, unchanged when its content
is, and installs it with `pip install --require-hashes --no-index -r requirements.txt`.
Dependencies are downloaded with --require-hashes: a file whose hash the lock does not list is
refused. A target with no wheel of a locked version (a Python or machine PyYAML publishes no wheel
for) gets the version's sdist instead, also hashed, and the wheels of the build lock
(requirements-build.lock: setuptools, Cython) so the host can build it offline.
The agent's wheel is reproducible: built with SOURCE_DATE_EPOCH (the caller's, else 1980-01-01,
the earliest a zip can say) and from a copy whose file modes are normalised, so two controllers, or
two builds, of the same source give the same bytes and the same bundle. Each target also reports
`record` (the digest of the agent's installed files, see read_installed.py) and `pins` (the
dependency versions), which the role compares with what a host has installed.
Work already done is skipped (a stamp records the source digest, the wheel's requirements and
the lock's entries), so a second run changes nothing and needs no network. Prints one JSON object:
changed, version, agent_wheel, record, and per target its bundle, sha256 and pins. Runs on the
controller only.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

SOURCE_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
SOURCE_DIRS = ("agent",)
SKIP_PARTS = ("__pycache__", ".egg-info", ".mypy_cache", ".pytest_cache")
EXTRAS = "notify"
# 1980-01-01T00:00:00Z: the zip format's earliest date, the wheel's timestamps unless the caller
# sets SOURCE_DATE_EPOCH.
DEFAULT_SOURCE_DATE_EPOCH = "315532800"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_installed import record_digest  # noqa: E402 (beside this script, not a package)


def fail(message: str) -> NoReturn:
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
            if (
                path.is_file()
                and not any(p in str(path) for p in SKIP_PARTS)
                and path.suffix != ".pyc"
            ):
                files.append(path)
    return files


def digest(source: Path, files: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in files:
        sha.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def pip(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    # S603: this Python's own pip, with an argument list, never a shell.
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # noqa: S603


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
            shutil.copyfile(path, target)
            # The wheel stores each file's mode: a checkout's umask must not change its bytes.
            target.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
        out = Path(tmp) / "out"
        env = {
            **os.environ,
            "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH") or DEFAULT_SOURCE_DATE_EPOCH,
        }
        # Without build isolation first: works on a controller with no index (setuptools present).
        result = pip(
            "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(copy), env=env
        )
        if result.returncode != 0:
            result = pip("wheel", "--no-deps", "-q", "-w", str(out), str(copy), env=env)
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


@dataclass(frozen=True)
class Pin:
    """One entry of a hashed lock file: `name==version ; marker` and its hashes."""

    name: str
    version: str
    marker: str
    hashes: frozenset[str]
    line: int

    def requirement(self) -> str:
        """The pin for pip, without its marker: it was evaluated for the target already, and pip
        would evaluate it for the controller's Python."""
        hashes = "".join(f" \\\n    --hash=sha256:{h}" for h in sorted(self.hashes))
        return f"{self.name}=={self.version}{hashes}\n"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> list[Pin]:
    """The entries of a lock written by `uv pip compile --generate-hashes` (or pip-compile):
    every requirement pinned with == and at least one sha256, else an error naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        fail(f"cannot read the lock file {path}: {error.strerror} (scripts/lock.sh writes it)")
    pins: list[Pin] = []
    logical, start = "", 0
    for number, raw in enumerate([*text.splitlines(), ""], start=1):
        content = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not logical:
            start = number
        if content.endswith("\\"):
            logical += content[:-1] + " "
            continue
        logical = (logical + content).strip()
        if logical:
            pins.append(parse_pin(path, start, logical))
        logical = ""
    if not pins:
        fail(f"{path} pins nothing: regenerate it with scripts/lock.sh")
    return pins


def parse_pin(path: Path, line: int, text: str) -> Pin:
    hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", text))
    requirement = re.sub(r"--hash=\S+", "", text).strip()
    requirement, _, marker = (part.strip() for part in requirement.partition(";"))
    match = re.fullmatch(
        r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^]]*\])?\s*==\s*([^\s,;]+)", requirement
    )
    if not match or not hashes:
        fail(
            f"{path}:{line}: {text[:80]!r} is not `name==version --hash=sha256:...`: "
            "a lock for --require-hashes pins every package with its hashes (scripts/lock.sh)"
        )
    return Pin(canonical(match.group(1)), match.group(2), marker, hashes, line)


def marker_module() -> Any:
    """packaging's markers: ansible-core (the controller's Python) depends on packaging, and pip
    vendors it, so one of the two is always there."""
    try:
        from packaging import markers  # noqa: PLC0415 (either of two modules)
    except ImportError:
        from pip._vendor.packaging import markers  # type: ignore[no-redef]  # noqa: PLC0415
    return markers


def pins_for(pins: list[Pin], python: str, machine: str, lock: Path) -> list[Pin]:
    """The entries whose marker holds on the target, for Python `python` (3.X.Y, or 3.X when the
    patch release is not known: then a marker that tells patch releases apart, true for 3.X.0 and
    false for 3.X.99, is an error, not a guess)."""
    markers = marker_module()
    python_version = ".".join(python.split(".")[:2])
    full_versions = [python] if python.count(".") == 2 else [f"{python}.0", f"{python}.99"]
    chosen = []
    for pin in pins:
        if not pin.marker:
            chosen.append(pin)
            continue
        verdicts = set()
        for full_version in full_versions:
            environment = {
                "python_version": python_version,
                "python_full_version": full_version,
                "implementation_name": "cpython",
                "platform_python_implementation": "CPython",
                "platform_machine": machine,
                "platform_system": "Linux",
                "sys_platform": "linux",
                "os_name": "posix",
            }
            verdicts.add(markers.Marker(pin.marker).evaluate(environment))
        if len(verdicts) != 1:
            fail(
                f"{lock}:{pin.line}: the marker {pin.marker!r} depends on Python's patch release; "
                f"the wheelhouse knows only {python}: relock (scripts/lock.sh)"
            )
        if verdicts == {True}:
            chosen.append(pin)
    return chosen


def requirements(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode("utf-8")
    return "\n".join(line for line in metadata.splitlines() if line.startswith("Requires-Dist:"))


def wheel_record(wheel: Path) -> str:
    """record_digest() of the wheel's RECORD: what its installed package files will be."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        return record_digest(archive.read(name).decode("utf-8"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def required_names(wheel: Path) -> tuple[set[str], set[str]]:
    """The names the agent's wheel requires: always (or through EXTRAS), and only through
    another extra (bcrypt, for basic auth, through `web`)."""
    always: set[str] = set()
    optional: set[str] = set()
    for line in requirements(wheel).splitlines():
        requirement = line.split(":", 1)[1].strip()
        name, _, marker = requirement.partition(";")
        name = canonical(re.split(r"[\s<>=!~\[(]", name.strip(), maxsplit=1)[0])
        if "extra ==" in marker and f'"{EXTRAS}"' not in marker and f"'{EXTRAS}'" not in marker:
            optional.add(name)
        else:
            always.add(name)
    return always, optional - always


def wheel_only_names(wheel: Path) -> set[str]:
    """Installed only where the target has a wheel of the locked version: what the agent needs
    only through another extra than EXTRAS (basic auth's bcrypt, whose sdist needs a Rust
    toolchain hosts lack). A target without the wheel gets the agent without it (the output's
    "without" says so)."""
    return required_names(wheel)[1]


def check_lock_covers(wheel: Path, pins: list[Pin], lock: Path) -> None:
    """Every requirement of the agent's wheel (with its extras) has an entry in the lock."""
    locked = {pin.name for pin in pins}
    for name in sorted(required_names(wheel)[0]):
        if name not in locked:
            fail(
                f"{lock} has no entry for {name}, which {wheel.name} requires: regenerate the "
                "lock with scripts/lock.sh"
            )


def download(
    directory: Path, pins: list[Pin], python_version: str, machine: str, binary_only: bool
) -> subprocess.CompletedProcess[str]:
    """pip download of exactly these pins (no dependencies: the lock is the closure), checked
    against their hashes; offline first (files already here), then the configured index."""
    wanted = directory / ".requirements.txt"
    wanted.write_text("".join(pin.requirement() for pin in pins))
    common = [
        "download", "-q", "--no-deps", "--require-hashes", "--implementation", "cp",
        "--python-version", python_version, "--platform", f"manylinux2014_{machine}",
        "-d", str(directory), "-r", str(wanted),
        *(["--only-binary=:all:"] if binary_only else ["--prefer-binary"]),
    ]  # fmt: skip
    result = pip(*common[:1], "--no-index", "--find-links", str(directory), *common[1:])
    if result.returncode != 0:
        result = pip(*common)
    return result


@dataclass(frozen=True)
class Locks:
    """The runtime lock and the build lock, read."""

    runtime: Path
    build: Path
    runtime_pins: list[Pin]
    build_pins: list[Pin]


def fill_target(
    wheelhouse: Path, wheel: Path, target: str, locks: Locks
) -> tuple[str, list[Pin], list[Path], bool]:
    """Download the locked dependencies of `wheel` for one Python and machine: wheels, or the sdist
    (and the build lock's wheels) where the locked version has no wheel for the target."""
    python_version, _, machine = target.partition(":")
    if not re.fullmatch(r"3\.\d+", python_version) or not re.fullmatch(r"[a-z0-9_]+", machine):
        fail(f"target {target!r} is not PYTHON_VERSION:MACHINE, e.g. 3.11:x86_64")
    tag = f"cp{python_version.replace('.', '')}-{machine}"
    directory = wheelhouse / tag
    runtime = pins_for(locks.runtime_pins, python_version, machine, locks.runtime)
    build = pins_for(locks.build_pins, python_version, machine, locks.build)
    optional = wheel_only_names(wheel)
    wheel_only = [pin for pin in runtime if pin.name in optional]
    runtime = [pin for pin in runtime if pin.name not in optional]
    stamp = directory / ".requirements-sha256"
    want = hashlib.sha256(
        (
            requirements(wheel) + "".join(p.requirement() for p in runtime + wheel_only + build)
        ).encode()
    ).hexdigest()
    changed = False
    if not (stamp.is_file() and stamp.read_text().strip() == want):
        directory.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        result = download(directory, runtime, python_version, machine, binary_only=True)
        if result.returncode != 0:
            # No wheel of some locked version for this Python or machine: its sdist (hashed too),
            # built on the host from the build lock's wheels, which are downloaded beside it.
            result = download(directory, runtime, python_version, machine, binary_only=False)
            if result.returncode == 0:
                result = download(directory, build, python_version, machine, binary_only=True)
        if result.returncode != 0:
            stderr = result.stderr[-3000:]
            fail(f"downloading the locked dependencies for {target} failed:\n{stderr}")
        for pin in wheel_only:  # one by one: a missing wheel drops that package only
            download(directory, [pin], python_version, machine, binary_only=True)
        stamp.write_text(want + "\n")
        changed = True
    # The bundle holds the files whose hash the lock lists for this target, and nothing else the
    # directory may have kept from another lock; the build lock's wheels only if a pin has no
    # wheel here (its sdist is built on the host).
    by_hash: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            by_hash.setdefault(sha256(path), []).append(path)
    runtime += [pin for pin in wheel_only if any(h in by_hash for h in pin.hashes)]
    files = {path for pin in runtime for h in pin.hashes for path in by_hash.get(h, [])}
    wheels_for = {
        pin.name
        for pin in runtime
        for h in pin.hashes
        for path in by_hash.get(h, [])
        if path.suffix == ".whl"
    }
    if any(pin.name not in wheels_for for pin in runtime):
        files |= {path for pin in build for h in pin.hashes for path in by_hash.get(h, [])}
    return tag, runtime, sorted(files), changed


def requirements_txt(pins: list[Pin], wheel: Path, version: str) -> str:
    """What the host installs with --require-hashes: the agent's wheel and the locked closure."""
    return (
        "# aiops-agent and its locked dependencies; install with\n"
        "#   pip install --require-hashes --no-index --find-links . -r requirements.txt\n"
        f"aiops-agent[{EXTRAS}]=={version} \\\n    --hash=sha256:{sha256(wheel)}\n"
        + "".join(pin.requirement() for pin in pins)
    )


def bundle(wheelhouse: Path, wheel: Path, tag: str, files: list[Path], requirements: str) -> Path:
    """One tar of the agent wheel, the target's dependencies and requirements.txt (their hashes),
    byte-for-byte reproducible."""
    directory = wheelhouse / "bundles"
    directory.mkdir(parents=True, exist_ok=True)
    name = wheel.name.split("-py3")[0].replace("aiops_agent", "aiops-agent")
    path = directory / f"{name}-{tag}.tar"
    members = sorted(
        [(wheel.name, wheel.read_bytes()), ("requirements.txt", requirements.encode())]
        + [(file.name, file.read_bytes()) for file in files]
    )
    tmp = path.with_suffix(".tar.tmp")
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
    if path.is_file() and path.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        os.replace(tmp, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheelhouse", required=True, type=Path)
    parser.add_argument(
        "--lock",
        required=True,
        type=Path,
        help="hashed lock of the runtime dependencies (requirements-runtime.lock)",
    )
    parser.add_argument(
        "--build-lock",
        type=Path,
        help="hashed lock of what building an sdist needs (default: "
        "requirements-build.lock beside --lock)",
    )
    parser.add_argument("--source", type=Path, help="repo to build the agent wheel from")
    parser.add_argument("--version", default="", help="agent version (default: the source's)")
    parser.add_argument("--target", action="append", default=[], help="PYTHON_VERSION:MACHINE")
    args = parser.parse_args()
    wheelhouse = args.wheelhouse.resolve()
    lock = args.lock.resolve()
    build_lock = (args.build_lock or lock.with_name("requirements-build.lock")).resolve()
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
    if args.target:
        locks = Locks(lock, build_lock, read_lock(lock), read_lock(build_lock))
        check_lock_covers(wheel, locks.runtime_pins, lock)
    for target in args.target:
        tag, chosen, files, target_changed = fill_target(wheelhouse, wheel, target, locks)
        path = bundle(wheelhouse, wheel, tag, files, requirements_txt(chosen, wheel, version))
        targets[target] = {
            "bundle": str(path),
            "sha256": sha256(path),
            "files": sorted([wheel.name, "requirements.txt", *(f.name for f in files)]),
            "pins": {pin.name: pin.version for pin in chosen},
            "without": sorted(
                {pin.name for pin in locks.runtime_pins}
                & wheel_only_names(wheel) - {pin.name for pin in chosen}
            ),
        }
        changed |= target_changed
    print(
        json.dumps(
            {
                "changed": changed,
                "version": version,
                "agent_wheel": str(wheel),
                "record": wheel_record(wheel),
                "targets": targets,
            }
        )
    )


if __name__ == "__main__":
    main()
