"""Debian packages the side-by-side tests need beyond this host's own: node_exporter 1.9 (Debian
13's build; its binary runs on Debian 12) and the upstream procfs/sysfs test fixtures that
Debian's golang-github-prometheus-procfs-dev ships. Each .deb is fetched once from Debian's pool
into a cache outside the repository (~/.cache/aiops-agent/debian, or $AIOPS_TEST_CACHE/debian),
checked against the SHA-256 that Debian's signed Packages index lists for it, and unpacked with
the standard library (a .deb is an ar archive holding data.tar.*).

Debian keeps a stable release's files in the pool for the life of that release. When a point
release replaces a file, the download fails with a message naming the pin to update here."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MIRROR = os.environ.get("AIOPS_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@dataclass(frozen=True)
class Deb:
    pool_path: str  # under the mirror's root, as the Packages index's Filename field
    sha256: str  # as the Packages index's SHA256 field

    @property
    def file_name(self) -> str:
        return self.pool_path.rsplit("/", 1)[1]


# trixie (Debian 13) main, from its Packages index.
NODE_EXPORTER_19 = {
    "x86_64": Deb(
        "pool/main/p/prometheus-node-exporter/prometheus-node-exporter_1.9.0-1+b4_amd64.deb",
        "9db00cad0c9e160a4e9c13cbdb2833d58becb1f4cd60eeb0b5e12477ba6a42bd",
    ),
}
PROCFS_FIXTURES = Deb(
    "pool/main/g/golang-github-prometheus-procfs/"
    "golang-github-prometheus-procfs-dev_0.15.1-1_all.deb",
    "9644b8322a8202d31aa7a9c64ff98a4dc2fa0f6138ccc5aa88f0036bb504c6d5",
)
PROCFS_TTAR = "usr/share/gocode/src/github.com/prometheus/procfs/testdata/fixtures.ttar"


def cache_dir() -> Path:
    base = os.environ.get("AIOPS_TEST_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "aiops-agent"
    )
    path = Path(base) / "debian"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(deb: Deb) -> Path:
    """The verified .deb in the cache, downloaded first if missing or corrupt."""
    target = cache_dir() / deb.file_name
    if target.exists() and _sha256(target) == deb.sha256:
        return target
    url = f"{MIRROR}/{deb.pool_path}"
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                shutil.copyfileobj(response, partial)
        except urllib.error.HTTPError as error:
            os.unlink(partial.name)
            raise RuntimeError(
                f"{url}: HTTP {error.code}; if Debian replaced this file, update the pin in "
                f"tests/helpers/debian.py from `apt-cache show` of the package"
            ) from None
        except BaseException:
            os.unlink(partial.name)
            raise
    actual = _sha256(Path(partial.name))
    if actual != deb.sha256:
        os.unlink(partial.name)
        raise RuntimeError(f"{url}: SHA-256 {actual}, Debian's index says {deb.sha256}")
    os.replace(partial.name, target)
    return target


def _ar_members(path: Path) -> dict[str, bytes]:
    """The members of an ar archive (the .deb container)."""
    data = path.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise ValueError(f"{path}: not an ar archive")
    members, position = {}, 8
    while position + 60 <= len(data):
        header = data[position : position + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[position + 60 : position + 60 + size]
        position += 60 + size + (size % 2)
    return members


def unpack(deb: Deb) -> Path:
    """The package's files, unpacked once into the cache; returns the directory."""
    directory = cache_dir() / deb.file_name.removesuffix(".deb")
    marker = directory / ".unpacked"
    if marker.exists():
        return directory
    archive = download(deb)
    payload = next(
        (body for name, body in _ar_members(archive).items() if name.startswith("data.tar")),
        None,
    )
    if payload is None:
        raise ValueError(f"{archive}: no data.tar member")
    staging = Path(tempfile.mkdtemp(dir=cache_dir()))
    tar_path = staging / "data.tar"
    tar_path.write_bytes(payload)
    with tarfile.open(tar_path) as tar:  # compression detected from the content
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise ValueError(f"{archive}: unsafe path {member.name!r}")
        # Python >= 3.12 has extraction filters; older ones rely on the check above.
        options = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
        tar.extractall(staging / "root", **options)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging / "root", directory)
    shutil.rmtree(staging)
    marker.touch()
    return directory


def node_exporter_19() -> Path:
    deb = NODE_EXPORTER_19.get(platform.machine())
    if deb is None:
        raise RuntimeError(
            f"no pinned node_exporter 1.9 package for {platform.machine()}: add one to "
            "tests/helpers/debian.py"
        )
    return unpack(deb) / "usr/bin/prometheus-node-exporter"


def procfs_fixtures_ttar() -> Path:
    return unpack(PROCFS_FIXTURES) / PROCFS_TTAR
