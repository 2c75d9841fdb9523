"""config.example.yaml documents every key with its default, and is regenerated from the schema:
when they differ, run `aiops-agent example-config > config.example.yaml`."""

from __future__ import annotations

from pathlib import Path

from aiops_agent.config import Config, load_config
from aiops_agent.config.example import render_example

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def test_example_is_current() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render_example(), (
        "config.example.yaml is stale: run `aiops-agent example-config > config.example.yaml`"
    )


def test_example_loads_to_the_defaults() -> None:
    assert load_config(str(EXAMPLE), {}, required=True) == Config()
