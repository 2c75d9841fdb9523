"""Shared paths and the podman environment for the kubernetes scenario's verifier. Molecule runs
these tests after converge has rendered the manifests into its ephemeral directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[3])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
RENDERED = EPHEMERAL / "rendered"
# The Pod Security checker lives with the unit tests (tests/unit/test_pod_security_restricted.py).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _podman_environment() -> None:
    """What scripts/podman-env.sh exports (runc, lower ulimits where this host needs them)."""
    if "CONTAINERS_CONF" in os.environ:
        return
    script = f"source {ROOT / 'scripts' / 'podman-env.sh'} && env -0"
    output = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    for entry in output.split(b"\0"):
        name, _, value = entry.decode().partition("=")
        if name in ("CONTAINERS_CONF", "AIOPS_PODMAN_ULIMITS"):
            os.environ[name] = value


_podman_environment()
