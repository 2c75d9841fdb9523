"""What is installed on a host, read in one round trip before anything is changed there: the
Python that creates the virtualenv (the wheelhouse is built for its version), whether the
virtualenv exists, the agent's version and the digest of its installed files, every distribution
in the virtualenv with its version, the service's systemd state, the agent's user and group, and
the owner, group, mode (and sha1 of a file) of each path the role manages. The role compares this
with what it would write and runs only the tasks whose target differs, so a re-run that changes
nothing costs this one command instead of a module round trip per file.

The role passes this file's text to the host's Python with -c (no copy of it on the host) and
one JSON argument:

    python3 -c "$(cat read_installed.py)" '{"venv": "/opt/aiops-agent/venv",
        "service": "aiops-agent", "user": "aiops-agent", "group": "aiops-agent",
        "paths": ["/etc/aiops-agent", ...], "list": ["/etc/aiops-agent/secrets"]}'

build_wheelhouse.py computes the agent's digest from the wheel with record_digest() below, so
two wheels built from the same source at different times (other bytes: zip timestamps) install
the same files, have the same digest, and change nothing on a host that runs either.
Python >= 3.9, standard library only.
"""

from __future__ import annotations

import glob
import grp
import hashlib
import importlib.metadata
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import sysconfig
from typing import Any

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


def name_of(uid: int, names: Any) -> str:
    try:
        return str(names(uid)[0])
    except KeyError:
        return str(uid)


def path_state(path: str) -> dict[str, str]:
    """Owner, group, mode (as the role writes it, e.g. 0750) and, for a file, its sha1 (the
    checksum Ansible's copy and template compare); {} when the path does not exist."""
    try:
        info = os.lstat(path)
    except OSError:
        return {}
    found = {
        "owner": name_of(info.st_uid, pwd.getpwuid),
        "group": name_of(info.st_gid, grp.getgrgid),
        "mode": "%04o" % stat.S_IMODE(info.st_mode),  # noqa: UP031 (Python 3.9 hosts too)
        "type": "directory" if stat.S_ISDIR(info.st_mode) else "file",
    }
    if stat.S_ISREG(info.st_mode):
        with open(path, "rb") as handle:
            found["sha1"] = hashlib.sha1(handle.read()).hexdigest()  # noqa: S324 (Ansible's)
    return found


def user_state(user: str) -> dict[str, str]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return {}
    return {
        "group": name_of(entry.pw_gid, grp.getgrgid),
        "home": entry.pw_dir,
        "shell": entry.pw_shell,
        "comment": entry.pw_gecos,
    }


def group_exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True


def listing(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def pip_wheel() -> str:
    """The pip wheel this Python ships for ensurepip (Debian: python3-pip-whl; CPython:
    ensurepip/_bundled): the role creates the virtualenv without pip (ensurepip costs seconds
    per host) and runs pip from this wheel. "" if there is none."""
    bundled = os.path.join(sysconfig.get_paths()["stdlib"], "ensurepip", "_bundled")
    for directory in ("/usr/share/python-wheels", bundled):
        found = sorted(glob.glob(os.path.join(directory, "pip-*.whl")))
        if found:
            return found[-1]
    return ""


def main(request: dict[str, Any]) -> dict[str, object]:
    venv = str(request["venv"])
    service = str(request.get("service", ""))
    python = "{}.{}".format(*sys.version_info[:2])
    found: dict[str, object] = {
        "python": python,
        "venv": os.access(os.path.join(venv, "bin", "python"), os.X_OK),
        "version": "",
        "record": "",
        "dists": {},
        "pip_wheel": pip_wheel(),
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
    found["paths"] = {path: path_state(path) for path in request.get("paths", [])}
    found["lists"] = {path: listing(path) for path in request.get("list", [])}
    if request.get("user"):
        found["user"] = user_state(str(request["user"]))
    if request.get("group"):
        found["group"] = group_exists(str(request["group"]))
    if service:
        found["enabled"] = systemctl("is-enabled", service)
        found["active"] = systemctl("is-active", service)
    return found


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
