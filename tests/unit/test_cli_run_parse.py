"""`aiops-agent run` is parsed without argparse (cli._parse_run), so the running agent does not
hold argparse, gettext and shutil (with bz2 and lzma) in memory; every other command line, and
every mistake, still goes to argparse."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops_agent import cli

VALID = [
    ["run"],
    ["run", "--config", "/etc/aiops-agent/config.yaml"],
    ["run", "--config=/etc/a b.yaml"],
    ["run", "--config", "x=y.yaml", "--log-level", "debug", "--log-format", "json"],
    ["run", "--log-format=text", "--log-level=error", "--config=c.yaml"],
    ["run", "--config", "first.yaml", "--config", "second.yaml"],  # the last wins
    ["run", "--log-level", "warning", "--log-format", "auto"],
]
# What the fast path leaves to argparse: errors, help, abbreviations, values argparse reads as
# options, other commands.
LEFT_TO_ARGPARSE = [
    [],
    ["--version"],
    ["run", "--help"],
    ["run", "-h"],
    ["run", "--conf", "c.yaml"],
    ["run", "--config"],
    ["run", "--config", "--log-level", "info"],
    ["run", "--config", ""],
    ["run", "--config", "-c.yaml"],
    ["run", "--log-level", "verbose"],
    ["run", "--log-format=xml"],
    ["run", "extra"],
    ["run", "--", "--config", "c.yaml"],
    ["check-config", "--config", "c.yaml"],
    ["collect"],
    ["--config", "c.yaml", "run"],
]


@pytest.mark.parametrize("argv", VALID)
def test_run_is_parsed_as_argparse_parses_it(argv: list[str]) -> None:
    fast = cli._parse_run(argv)
    assert fast is not None
    assert vars(fast) == vars(cli._parser().parse_args(argv))


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert cli._parse_run(argv) is None


def test_a_mistake_in_run_still_gets_argparse_s_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", "--log-level", "verbose"])
    assert caught.value.code == 2
    assert "invalid choice: 'verbose'" in capsys.readouterr().err


# The real start of `run` (config, logging, the Agent with its collectors, plugins and bound HTTP
# server, one collection), then the modules loaded, instead of the loop.
PROBE = r"""
import json, sys
from aiops_agent import agent, cli

def report(self):
    self.cycle()
    loaded = [m for m in ("argparse", "gettext", "shutil", "bz2", "lzma") if m in sys.modules]
    print(json.dumps(loaded))
    return 0

agent.Agent.run = report
cli.main(sys.argv[1:])
"""


def loaded_by(argv: list[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_the_running_agent_does_not_load_argparse(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f'agent:\n  state_dir: "{tmp_path / "state"}"\nhttp:\n  listen: 127.0.0.1:0\n'
    )
    assert loaded_by(["run", "--config", str(config), "--log-format", "json"]) == []
    # the probe sees argparse when it is loaded: an abbreviation, which only argparse accepts
    assert "argparse" in loaded_by(["run", f"--conf={config}", "--log-format", "json"])


# Fuzzed: command lines made of the words that matter (options whole, abbreviated, with `=`,
# valid and invalid choices, values that look like options, stray words); wherever the fast path
# answers, argparse must have answered the same.
WORDS = [
    "run", "check-config", "--config", "--conf", "--config=c.yaml", "--config=", "c.yaml",
    "a=b.yaml", "--log-level", "--log-level=info", "--log-level=verbose", "debug", "info",
    "warning", "error", "verbose", "--log-format", "--log-format=json", "json", "text", "auto",
    "xml", "-", "--", "-x", "-1", "--help", "",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=6))
def test_fuzzed_command_lines_parse_as_argparse_parses_them(rest: list[str]) -> None:
    argv = ["run", *rest]
    fast = cli._parse_run(argv)
    if fast is None:
        return
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            parsed = cli._parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{argv}: the fast path accepted what argparse refuses")
    assert vars(fast) == vars(parsed)
