"""The set-up proven on a fresh Debian 12: `scripts/setup.sh` runs as root inside a pristine
container of the project's debootstrap image (localhost/aiops-debian-systemd:bookworm, built by
scripts/build-images.sh; nothing of this machine's packages leaks in), then every external command
the suite runs (tests/helpers/tools.py reads them from the code) must be on PATH there, and so
must podman's helpers, which no code names but `podman kube play` and the Molecule scenarios need.

The full set-up runs: apt installs every package and pip the whole of requirements-dev.txt, so a
missing Debian package or an unresolvable pin fails here. Downloads are cached across runs in
$AIOPS_CACHE_DIR/fresh-setup (apt archives, pip and npm caches), so only the first run pays for
them. A CA bundle named by PIP_CERT (a TLS-intercepting proxy, as on this project's machines) is
passed to pip and npm in the container."""

from __future__ import annotations

import os
import shlex
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.tools import suite_tools

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("AIOPS_CACHE_DIR", Path.home() / ".cache" / "aiops-agent"))
IMAGE = "localhost/aiops-debian-systemd:bookworm"
pytestmark = [pytest.mark.needs_root, pytest.mark.needs_podman, pytest.mark.timeout(3600)]

# Not installable from Debian 12: the suite's Python 3.9 comes from pyenv on the project's
# machines (tests/system/test_python39.py finds it there).
NOT_FROM_DEBIAN = {"python3.9"}
# podman's helpers, by the paths podman 4.3 (Debian 12) searches: conmon and the OCI runtime, the
# pause binary of `podman kube play` (catatonit; "finding pause binary" when it is missing), the
# network stack (CNI plugins, or netavark), rootless networking and storage, and subuid mapping.
PODMAN_HELPERS = {
    "conmon": ["/usr/bin/conmon", "/usr/libexec/podman/conmon"],
    "runc": ["/usr/bin/runc", "/usr/sbin/runc"],
    "catatonit": ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"],
    "CNI bridge plugin or netavark": ["/usr/lib/cni/bridge", "/usr/lib/podman/netavark"],
    "iptables": ["/usr/sbin/iptables"],
    "slirp4netns": ["/usr/bin/slirp4netns"],
    "fuse-overlayfs": ["/usr/bin/fuse-overlayfs"],
    "newuidmap": ["/usr/bin/newuidmap"],
}


def podman(
    *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """podman with the project's host adjustments (scripts/podman-env.sh)."""
    command = 'source scripts/podman-env.sh && exec podman "$@"'
    return subprocess.run(
        ["bash", "-c", command, "podman", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def repo_archive(path: Path) -> Path:
    """The repository's files as a user's clone has them (tracked, plus new files not ignored)."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    with tarfile.open(path, "w") as archive:
        for name in filter(None, names):
            if (ROOT / name.decode()).is_file():
                archive.add(ROOT / name.decode(), arcname=name.decode())
    return path


@pytest.fixture
def fresh_debian(tmp_path: Path) -> Iterator[str]:
    assert os.geteuid() == 0, "this test runs podman as root (CI does)"
    build = subprocess.run(
        ["bash", "scripts/build-images.sh", "bookworm"], cwd=ROOT, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout + build.stderr
    caches = CACHE / "fresh-setup"
    volumes = []
    for name, inside in (
        ("apt-archives", "/var/cache/apt/archives"),
        ("pip", "/root/.cache/pip"),
        ("npm", "/root/.npm"),
    ):
        (caches / name).mkdir(parents=True, exist_ok=True)
        volumes += ["-v", f"{caches / name}:{inside}"]
    env = []
    ca_bundle = os.environ.get("PIP_CERT", "")
    if ca_bundle and Path(ca_bundle).is_file():
        volumes += ["-v", f"{ca_bundle}:/etc/aiops-test-ca.pem:ro"]
        env += [
            "-e",
            "PIP_CERT=/etc/aiops-test-ca.pem",
            "-e",
            "NODE_EXTRA_CA_CERTS=/etc/aiops-test-ca.pem",
        ]
    name = f"aiops-fresh-setup-{os.getpid()}"
    podman("rm", "-f", name, check=False)
    podman("run", "-d", "--name", name, *volumes, *env, IMAGE, "sleep", "infinity")
    try:
        # apt keeps what it downloads (the image's apt.conf may say otherwise).
        podman("exec", name, "bash", "-c",
               "echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' "
               ">/etc/apt/apt.conf.d/99aiops-keep && rm -f /etc/apt/apt.conf.d/docker-clean")  # fmt: skip
        podman("cp", str(repo_archive(tmp_path / "repo.tar")), f"{name}:/tmp/repo.tar")
        podman("exec", name, "bash", "-c", "mkdir /src && tar -xf /tmp/repo.tar -C /src")
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def test_setup_installs_every_tool_the_suite_runs(fresh_debian: str) -> None:
    missing_before = on_path(fresh_debian, ["podman", "prometheus", "node"])
    assert missing_before, "the container is not pristine: the tools are there before set-up"

    started = time.monotonic()
    setup = podman("exec", fresh_debian, "bash", "-c", "cd /src && scripts/setup.sh 2>&1", timeout=3000, check=False)  # fmt: skip
    took = time.monotonic() - started
    print(
        f"\nscripts/setup.sh in a fresh Debian 12 container: exit {setup.returncode} in {took:.0f} s"
    )
    assert setup.returncode == 0, setup.stdout[-8000:] + setup.stderr[-2000:]

    groups = [g for g in suite_tools() if not set(g) & NOT_FROM_DEBIAN]
    assert len(groups) > 30, groups  # the scan found the suite's commands
    names = sorted({name for group in groups for name in group})
    present = set(names) - set(on_path(fresh_debian, names))
    missing = [" | ".join(group) for group in groups if not set(group) & present]
    any_exists = [
        "{ " + " || ".join(f"[ -e {shlex.quote(path)} ]" for path in paths) + "; }"
        f" || echo {shlex.quote(what)}"
        for what, paths in PODMAN_HELPERS.items()
    ]
    helpers = podman("exec", fresh_debian, "bash", "-c", "; ".join(any_exists)).stdout.split("\n")
    missing += [f"podman helper {what}" for what in helpers if what]
    assert not missing, f"missing after scripts/setup.sh: {missing}\n{setup.stdout[-3000:]}"

    # The venv it made runs the agent and the test tools.
    version = podman("exec", fresh_debian, "/src/.venv/bin/aiops-agent", "--version")
    assert version.stdout.startswith("aiops-agent "), version


def on_path(container: str, names: list[str]) -> list[str]:
    """The names that are not commands in the container (the set-up's venv first on PATH)."""
    script = (
        "export PATH=/src/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; "
        'for name in "$@"; do command -v "$name" >/dev/null || echo "$name"; done'
    )
    result = podman("exec", container, "bash", "-c", script, "check", *names)
    return result.stdout.split()
