"""bench/Makefile passes the benchmark knobs a user gives to the scripts, and only those: a knob
exported empty reaches `float(os.environ.get("DURATION", "180"))` as "" and stops the benchmark
(`make -C bench overhead` failed so, with nothing set)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
KNOBS = ("QUICK", "DURATION", "REPS", "SCRAPE_INTERVAL", "NODE_EXPORTER", "WRK")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _environment_seen_by_recipes(*arguments: str) -> dict[str, str]:
    """The environment a bench recipe runs with, via a target defined on the command line."""
    env = {k: v for k, v in os.environ.items() if k not in KNOBS}
    probe = "print-knobs: ; @env"
    result = subprocess.run(
        ["make", "-s", "-C", str(BENCH), f"--eval={probe}", "print-knobs", *arguments],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_knobs_left_unset_are_not_exported_empty() -> None:
    seen = _environment_seen_by_recipes()
    assert [knob for knob in KNOBS if knob in seen] == []


def test_knobs_given_on_the_command_line_reach_the_scripts() -> None:
    seen = _environment_seen_by_recipes("DURATION=300", "REPS=3", "QUICK=1")
    assert (seen.get("DURATION"), seen.get("REPS"), seen.get("QUICK")) == ("300", "3", "1")
    assert "SCRAPE_INTERVAL" not in seen
