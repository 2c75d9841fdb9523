"""The Dockerfile passes hadolint and checkov's Dockerfile policies without podman, so a mistake
in it fails the lint tests, not only the Kubernetes scenario (which also runs both). Each linter
is first shown a broken Dockerfile, so one that stopped reporting fails this module too; and the
image installs its dependencies from the hashed lock only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BROKEN = """\
FROM debian:latest
RUN apt-get update && apt-get install -y curl
RUN cd /tmp && pip install requests
ADD https://example.invalid/tool.tar.gz /opt/
"""


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/setup.sh (requirements-k8s.txt)")
    return found


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def checkov(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [tool("checkov"), "--file", str(path), "--framework", "dockerfile", "--output", "json",
         "--skip-download", "--compact", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=path.parent,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    if isinstance(report, list):
        (report,) = report
    return report if isinstance(report, dict) else {}


def failed_checks(report: dict[str, Any]) -> list[str]:
    return [
        f"{check['check_id']} {check['check_name']} (line {check['file_line_range'][0]})"
        for check in report.get("results", {}).get("failed_checks", [])
    ]


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("broken") / "Dockerfile"
    path.write_text(BROKEN)
    return path


def test_hadolint_reports_a_broken_dockerfile(broken: Path) -> None:
    result = hadolint(broken)
    assert result.returncode != 0
    assert "DL3007" in result.stdout, result.stdout  # FROM ...:latest


def test_checkov_reports_a_broken_dockerfile(broken: Path) -> None:
    failed = failed_checks(checkov(broken))
    assert any("CKV_DOCKER_3" in check for check in failed), failed  # no USER


def test_dockerfile_passes_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_checkov() -> None:
    report = checkov(DOCKERFILE)
    assert not failed_checks(report), "\n".join(failed_checks(report))
    assert report.get("summary", {}).get("passed", 0) > 0, "checkov checked nothing"
    for skipped in report.get("results", {}).get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) > 20, f"{skipped['check_id']} skipped without a reason"


def test_image_installs_from_the_hashed_lock_only() -> None:
    """Every pip install/download/wheel of a package from an index checks hashes; the one
    install without them is the agent's own wheel, built in the image, with --no-index."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    commands = re.findall(r"pip (install|download|wheel) ([^&\n]*)", text)
    assert commands, "no pip command found in the Dockerfile"
    for verb, arguments in commands:
        if "--require-hashes" in arguments:
            continue
        assert "--no-index" in arguments, f"pip {verb} {arguments}: neither hashes nor --no-index"
