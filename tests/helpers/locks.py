"""The hashed lock files (scripts/lock.sh) and the role's reader of them
(roles/aiops_agent/files/build_wheelhouse.py: read_lock, pins_for, canonical), for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
RELEASE_LOCK = ROOT / "requirements-release.lock"
BUILD_WHEELHOUSE = ROOT / "roles" / "aiops_agent" / "files" / "build_wheelhouse.py"


def load_wheelhouse() -> ModuleType:
    """build_wheelhouse.py is a script in the role, not a package: loaded by path."""
    spec = importlib.util.spec_from_file_location("build_wheelhouse", BUILD_WHEELHOUSE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


wheelhouse = load_wheelhouse()
