"""The remediation ledger (plugins/modules/remediation_ledger.py): the kill switch, duplicate
deliveries, the rate limit per host and action (dry runs exempt), records that say who, what,
which alert and the result, and a lock that holds across processes."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_PATH = ROOT / "plugins" / "modules" / "remediation_ledger.py"
_spec = importlib.util.spec_from_file_location("remediation_ledger", MODULE_PATH)
assert _spec is not None and _spec.loader is not None
ledger = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ledger)

NOW = 1_800_000_000.0


def params(path: Path, **overrides: Any) -> dict[str, Any]:
    base = {
        "path": str(path),
        "state": "reserve",
        "host": "web-1",
        "action": "restart_unit:demo.service",
        "alert": {
            "idempotency_key": "k1",
            "fingerprint": "f1",
            "labels": {
                "alertname": "ProcessGroupDown",
                "severity": "critical",
                "groupname": "demo",
            },
        },
        "who": "ansible-rulebook ruleset 'r' rule 'x'",
        "dry_run": False,
        "enabled": True,
        "kill_switch": "",
        "max_actions": 2,
        "window": 3600,
        "result": "unchanged",
        "details": "",
    }
    return {**base, **overrides}


def alert(key: str) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "labels": {"alertname": "ProcessGroupDown", "groupname": "demo"},
    }


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rate_limit_per_host_and_action(tmp_path: Path) -> None:
    path = tmp_path / "ledger" / "actions.jsonl"
    outcomes = [ledger.run(params(path, alert=alert(f"k{n}")), False, NOW + n) for n in range(3)]
    assert [o["allowed"] for o in outcomes] == [True, True, False]
    assert outcomes[2]["reason"] == (
        "rate limit: 2 of 2 restart_unit:demo.service actions on web-1 in the last 3600s"
    )
    # Another host, or another action on the same host, has its own budget.
    assert ledger.run(params(path, host="web-2", alert=alert("k9")), False, NOW)["allowed"]
    other = params(path, action="clean_files", alert=alert("k8"))
    assert ledger.run(other, False, NOW)["allowed"]
    # Once the window has passed, the action may run again.
    later = ledger.run(params(path, alert=alert("k7")), False, NOW + 3601)
    assert later["allowed"] and later["recent"] == 1
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o750"


def test_records_say_who_what_which_alert_and_result(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    ledger.run(params(path), False, NOW)
    done = params(path, state="record", result="changed", details="restarted demo.service")
    ledger.run(done, False, NOW + 5)
    started, finished = lines(path)
    assert started["phase"] == "started" and finished["phase"] == "done"
    assert finished["result"] == "changed" and finished["details"] == "restarted demo.service"
    for entry in (started, finished):
        assert entry["host"] == "web-1" and entry["action"] == "restart_unit:demo.service"
        assert entry["mode"] == "live"
        assert entry["who"].endswith("(ansible-rulebook ruleset 'r' rule 'x')")
        assert "@" in entry["who"]
        assert entry["alert"]["alertname"] == "ProcessGroupDown"
        assert entry["alert"]["idempotency_key"] == "k1"
        assert entry["alert"]["labels"]["groupname"] == "demo"
    assert finished["time"].startswith("2027-01-15T08:00:05")


def test_duplicate_delivery_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    assert ledger.run(params(path), False, NOW)["allowed"]
    again = ledger.run(params(path), False, NOW + 1)
    assert not again["allowed"]
    assert again["reason"].startswith("duplicate: notification k1 was already handled at ")


def test_kill_switch_file_and_variable(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    switch = tmp_path / "disabled"
    switch.touch()
    refused = ledger.run(params(path, kill_switch=str(switch)), False, NOW)
    assert not refused["allowed"] and refused["reason"] == f"kill switch: {switch} exists"
    assert lines(path)[-1]["phase"] == "refused"
    assert lines(path)[-1]["details"] == refused["reason"]
    refused = ledger.run(params(path, enabled=False, alert=alert("k2")), False, NOW)
    assert not refused["allowed"] and "aiops_remediation_enabled: false" in refused["reason"]
    switch.unlink()
    assert ledger.run(params(path, kill_switch=str(switch)), False, NOW)["allowed"]


def test_dry_runs_are_recorded_but_never_limited_nor_counted(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    for n in range(4):
        outcome = ledger.run(params(path, dry_run=True, alert=alert(f"d{n}")), False, NOW + n)
        assert outcome["allowed"] and outcome["entry"]["mode"] == "dry-run"
    assert ledger.run(params(path, alert=alert("live")), False, NOW + 10)["recent"] == 0


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "actions.jsonl"
    outcome = ledger.run(params(path), True, NOW)
    assert outcome["allowed"] and outcome["changed"] is False
    assert not path.parent.exists()


def test_a_torn_line_is_skipped_and_ended(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    ledger.run(params(path), False, NOW)
    with path.open("a") as handle:
        handle.write('{"phase": "started", "host": "web-1", "act')  # a crash mid-write
    assert ledger.run(params(path, alert=alert("k2")), False, NOW + 1)["recent"] == 1
    assert ledger.run(params(path, alert=alert("k3")), False, NOW + 2)["recent"] == 2


def _reserve(path: str, key: str) -> bool:
    return bool(ledger.run(params(Path(path), alert=alert(key)), False, None)["allowed"])


def test_concurrent_reservations_respect_the_limit(tmp_path: Path) -> None:
    path = str(tmp_path / "actions.jsonl")
    context = multiprocessing.get_context("fork")
    with context.Pool(6) as pool:
        allowed = pool.starmap(_reserve, [(path, f"c{n}") for n in range(12)])
    assert sum(allowed) == 2
    assert len(lines(Path(path))) == 12


def test_the_module_through_ansible(tmp_path: Path) -> None:
    ansible = Path(sys.executable).parent / "ansible"
    if not ansible.exists():
        pytest.fail(f"{ansible} is missing: run scripts/setup.sh (requirements-dev.txt)")
    path = tmp_path / "actions.jsonl"
    arguments = json.dumps(params(path, max_actions=0))
    result = subprocess.run(
        [str(ansible), "localhost", "-m", "remediation_ledger", "-a", arguments, "-o"],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_LIBRARY": str(MODULE_PATH.parent), "NO_COLOR": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"allowed": false' in result.stdout
    assert lines(path)[0]["details"].startswith("rate limit: 0 of 0")
