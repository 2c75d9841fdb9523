"""The role's wheelhouse builder reads the hashed lock strictly: every entry pinned with its
hashes, markers evaluated for the target's Python and machine (never guessed across patch
releases), and the agent's requirements all locked. A failure is one JSON line naming the file
and line (the role shows it as the task's message)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.helpers.locks import RUNTIME_LOCK, wheelhouse

HASH = "a" * 64


def failure(capsys: pytest.CaptureFixture[str], call: object) -> str:
    with pytest.raises(SystemExit) as stopped:
        call()  # type: ignore[operator]
    assert stopped.value.code == 1
    message: str = json.loads(capsys.readouterr().out)["msg"]
    return message


def test_the_runtime_lock_reads_as_pins_with_hashes() -> None:
    pins = wheelhouse.read_lock(RUNTIME_LOCK)
    assert {"pyyaml", "requests", "urllib3", "idna", "certifi", "charset-normalizer"} <= {
        p.name for p in pins
    }
    assert all(p.hashes and p.version for p in pins)


def test_an_entry_without_hashes_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements-runtime.lock"
    lock.write_text(f"# header\nidna==3.20 \\\n    --hash=sha256:{HASH}\nrequests==2.34.2\n")
    message = failure(capsys, lambda: wheelhouse.read_lock(lock))
    assert f"{lock}:4:" in message and "requests==2.34.2" in message


def test_an_unpinned_entry_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / "requirements-runtime.lock"
    lock.write_text(f"idna>=3 \\\n    --hash=sha256:{HASH}\n")
    assert f"{lock}:1:" in failure(capsys, lambda: wheelhouse.read_lock(lock))


def test_markers_pick_the_version_for_the_targets_python() -> None:
    pins = wheelhouse.read_lock(RUNTIME_LOCK)

    def pyyaml(python: str) -> list[str]:
        chosen = wheelhouse.pins_for(pins, python, "aarch64", RUNTIME_LOCK)
        return [p.version for p in chosen if p.name == "pyyaml"]

    assert len(pyyaml("3.9")) == 1 and len(pyyaml("3.13")) == 1
    assert pyyaml("3.9") != pyyaml("3.13")  # the lock forks at 3.10


def test_a_marker_on_a_patch_release_is_not_guessed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements-dev.lock"
    lock.write_text(
        f"soupsieve==2.10 ; python_full_version < '3.11.5' \\\n    --hash=sha256:{HASH}\n"
    )
    pins = wheelhouse.read_lock(lock)
    assert "patch release" in failure(
        capsys, lambda: wheelhouse.pins_for(pins, "3.11", "x86_64", lock)
    )
    assert [p.version for p in wheelhouse.pins_for(pins, "3.11.2", "x86_64", lock)] == ["2.10"]
    assert wheelhouse.pins_for(pins, "3.11.7", "x86_64", lock) == []


def test_a_requirement_of_the_wheel_missing_from_the_lock_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = tmp_path / "aiops_agent-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "aiops_agent-9.9.9.dist-info/METADATA",
            "Name: aiops-agent\nRequires-Dist: PyYAML>=5.4\nRequires-Dist: rich>=13\n"
            'Requires-Dist: bcrypt>=4; extra == "web"\n',
        )
    pins = wheelhouse.read_lock(RUNTIME_LOCK)
    message = failure(capsys, lambda: wheelhouse.check_lock_covers(wheel, pins, RUNTIME_LOCK))
    assert "rich" in message and "bcrypt" not in message
