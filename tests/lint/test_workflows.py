"""The GitHub workflows cannot run here, so they are linted offline: actionlint (its WebAssembly
build, installed from npm by scripts/setup.sh into the venv) for syntax, expressions and types,
and zizmor (pedantic, --offline, no token) for security. Any finding fails. Both linters are first
shown a broken workflow, so a linter that stopped reporting would fail this module too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.prefix) / "actionlint" / "node_modules" / "@tktco" / "node-actionlint"
ZIZMOR = Path(sys.executable).parent / "zizmor"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")

BROKEN = """\
name: broken
on: pull_request_target
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def workflow_files(directory: Path = WORKFLOWS) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def actionlint(directory: Path) -> subprocess.CompletedProcess[str]:
    cli = ACTIONLINT / "bin" / "node-actionlint.js"
    if not cli.is_file():
        pytest.fail(f"actionlint is not installed at {ACTIONLINT}: run scripts/setup.sh")
    return subprocess.run(
        ["node", str(cli), ".github/workflows/*.y*ml"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )


def zizmor(directory: Path) -> subprocess.CompletedProcess[str]:
    if not ZIZMOR.is_file():
        pytest.fail(f"zizmor is not installed at {ZIZMOR}: run scripts/setup.sh")
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    return subprocess.run(
        [str(ZIZMOR), "--offline", "--persona=pedantic", "--no-progress", "--format=plain",
         str(directory / ".github" / "workflows")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def broken_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("broken")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "broken.yml").write_text(BROKEN)
    return repo


def test_actionlint_reports_a_broken_workflow(broken_repo: Path) -> None:
    result = actionlint(broken_repo)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "potentially untrusted" in result.stdout, result.stdout


def test_zizmor_reports_a_broken_workflow(broken_repo: Path) -> None:
    result = zizmor(broken_repo)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "template-injection" in result.stdout or "dangerous-triggers" in result.stdout


def test_workflows_pass_actionlint() -> None:
    files = workflow_files()
    assert files, f"no workflows in {WORKFLOWS}"
    result = actionlint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(files)} workflow file(s)" in result.stdout, result.stdout


def test_workflows_pass_zizmor() -> None:
    result = zizmor(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_follow_the_projects_rules() -> None:
    """What the linters do not insist on: actions pinned by full SHA, no default permissions,
    no pull_request_target, checkout without persisted credentials."""
    problems = []
    for path in workflow_files():
        document = yaml.safe_load(path.read_text())
        triggers = document.get(True, document.get("on"))  # YAML 1.1 reads `on` as True
        if "pull_request_target" in (triggers or {}):
            problems.append(f"{path.name}: pull_request_target")
        if document.get("permissions") != {}:
            problems.append(f"{path.name}: top-level permissions must be {{}}")
        for job_name, job in document["jobs"].items():
            if "permissions" not in job:
                problems.append(f"{path.name}: job {job_name} sets no permissions")
            for step in job.get("steps", []):
                uses = step.get("uses")
                if uses is None:
                    continue
                if not SHA_PIN.match(uses):
                    problems.append(f"{path.name}: {uses} is not pinned by a full commit SHA")
                if (
                    uses.startswith("actions/checkout@")
                    and (step.get("with") or {}).get("persist-credentials") is not False
                ):
                    problems.append(f"{path.name}: checkout without persist-credentials: false")
    assert not problems, "\n".join(problems)
