"""Every shell script of the project passes shellcheck (Debian's package, installed by
scripts/setup.sh), at every severity. The scripts are found, not listed: a `*.sh` file or a file
with a shell shebang under scripts/, molecule/, bench/ or .ci/, so a new script is checked without
touching this module."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEARCHED = ("scripts", "molecule", "bench", ".ci")
SKIPPED_PARTS = {"node_modules", "__pycache__", ".venv"}
SHELL_SHEBANG = re.compile(rb"^#!\s*\S*/(?:env\s+)?(?:ba|da|k)?sh\b")
BROKEN = """\
#!/usr/bin/env bash
for file in $(ls *.txt); do
    rm $file
done
"""


def shell_scripts(root: Path = ROOT) -> list[Path]:
    found = []
    for top in SEARCHED:
        for path in sorted((root / top).rglob("*")):
            if not path.is_file() or SKIPPED_PARTS & set(path.relative_to(root).parts):
                continue
            with path.open("rb") as handle:
                first_line = handle.readline()
            if path.suffix == ".sh" or SHELL_SHEBANG.match(first_line):
                found.append(path)
    return found


def shellcheck(path: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("shellcheck")
    if binary is None:
        pytest.fail("shellcheck is not installed: run scripts/setup.sh (Debian package shellcheck)")
    # -x follows `source`d files; SCRIPTDIR resolves `# shellcheck source=` beside the script.
    return subprocess.run(
        [binary, "--external-sources", "--source-path=SCRIPTDIR", "--severity=style", str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_scripts_are_found() -> None:
    found = {str(p.relative_to(ROOT)) for p in shell_scripts()}
    expected = {
        ".ci/run",
        "scripts/setup.sh",
        "scripts/podman-env.sh",
        "scripts/lock.sh",
        "bench/nab/run.sh",
        "molecule/kubernetes/build-image.sh",
    }
    assert expected <= found, sorted(found)
    assert not any(name.endswith(".py") for name in found), sorted(found)


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_script_passes_shellcheck(script: Path) -> None:
    result = shellcheck(script)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_new_script_with_a_mistake_is_caught(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "new-tool"  # no .sh: found by its shebang
    script.write_text(BROKEN)
    assert shell_scripts(tmp_path) == [script]
    result = shellcheck(script, cwd=tmp_path)
    assert result.returncode != 0
    assert "SC2045" in result.stdout or "SC2086" in result.stdout, result.stdout
