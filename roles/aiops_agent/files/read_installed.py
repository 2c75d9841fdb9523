"""What is installed on a host, read in one round trip before anything is copied there: the
Python that creates the virtualenv (the wheelhouse is built for its version), whether the
virtualenv exists, the agent's version and the digest of its installed files, every distribution
in the virtualenv with its version, and the service's systemd state.

The role passes this file's text to the host's Python with -c (no copy of it on the host):

    python3 -c "$(cat read_installed.py)" /opt/aiops-agent/venv aiops-agent

build_wheelhouse.py computes the agent's digest from the wheel with record_digest() below, so
two wheels built from the same source at different times (other bytes: zip timestamps) install
the same files, have the same digest, and change nothing on a host that runs either.
Python >= 3.9, standard library only.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys

AGENT = "aiops-agent"
PACKAGE_PREFIX = "aiops_agent/"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def record_digest(record: str) -> str:
    """sha256 of the RECORD lines of the agent's package files (path, hash, size), sorted: the
    same in the wheel and once installed (pip adds lines only outside the package)."""
    lines = sorted(
        line.strip()
        for line in record.splitlines()
        if line.startswith(PACKAGE_PREFIX) and ",sha256=" in line
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def systemctl(verb: str, service: str) -> str:
    try:
        # systemctl from the host's PATH, with an argument list, never a shell.
        result = subprocess.run(  # noqa: S603
            ["systemctl", verb, service],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return result.stdout.strip()


def main(venv: str, service: str) -> dict[str, object]:
    python = "{}.{}".format(*sys.version_info[:2])
    found: dict[str, object] = {
        "python": python,
        "venv": os.access(os.path.join(venv, "bin", "python"), os.X_OK),
        "version": "",
        "record": "",
        "dists": {},
    }
    site = glob.glob(os.path.join(venv, "lib", f"python{python}", "site-packages"))
    dists: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=site):
        name = dist.metadata["Name"]
        if not name:
            continue
        dists[canonical(name)] = dist.version
        if canonical(name) == AGENT:
            found["version"] = dist.version
            found["record"] = record_digest(dist.read_text("RECORD") or "")
    found["dists"] = dists
    if service:
        found["enabled"] = systemctl("is-enabled", service)
        found["active"] = systemctl("is-active", service)
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")))
