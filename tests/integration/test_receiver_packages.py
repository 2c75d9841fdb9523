"""A receiver whose Python package is missing is a configuration error for `check-config` and for
`run` (exit 2, naming the receiver, its type and the module), not a delivery that fails forever
behind a configuration that was said to be fine. The missing package is simulated in the
subprocess: None in sys.modules is what importlib reports as "not installed"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

WITHOUT_REQUESTS = (
    "import sys; sys.modules['requests'] = None; "
    "from aiops_agent.cli import main; sys.exit(main(sys.argv[1:]))"
)
CONFIG = """\
agent: {state_dir: STATE}
http: {listen: "127.0.0.1:0"}
receivers:
  oncall:
    webhook: {url: "http://127.0.0.1:9/hook", hmac_secret: "not-shown"}
routes:
  - {receiver: oncall}
"""


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_missing_receiver_package_is_a_config_error(tmp_path: Path, command: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.replace("STATE", str(tmp_path / "state")), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_REQUESTS, command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert (
        f"{config}:4: receivers.oncall: webhook needs the Python package 'requests' "
        "(No module named 'requests')"
    ) in result.stderr
    assert "not-shown" not in result.stderr


def test_the_same_config_is_fine_with_requests(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.replace("STATE", str(tmp_path / "state")), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "aiops_agent", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
