"""The `aiops-agent` command run as a user runs it: a subprocess of this interpreter, output
captured, never raising on a non-zero exit. AIOPS_* variables of the test's own environment are
left out (an override would change the config under test, a near miss adds a warning); a test
passes the ones it means in `env`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import yaml

AGENT = (sys.executable, "-m", "aiops_agent")


def run_cli(
    *args: str,
    env: Optional[Mapping[str, str]] = None,
    prefix: Sequence[str] = (),
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """`aiops-agent ARGS`, under `prefix` (e.g. setpriv) when given."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("AIOPS_")}
    return subprocess.run(
        [*prefix, *AGENT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
        check=False,
    )


def check_config(
    config: Path,
    *options: str,
    env: Optional[Mapping[str, str]] = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    return run_cli("check-config", "--config", str(config), *options, env=env, prefix=prefix)


def check_config_of(
    directory: Path, document: Mapping[str, Any], env: Optional[Mapping[str, str]] = None
) -> subprocess.CompletedProcess[str]:
    """check-config of `document`, written to DIRECTORY/check.yaml."""
    path = directory / "check.yaml"
    path.write_text(yaml.safe_dump(dict(document)), encoding="utf-8")
    return check_config(path, env=env)
