"""SIGHUP on a real `aiops-agent run`: a plugin that raises while applying the reloaded config (or
while loading) does not end the process, and the failed reload is reported; a change of
http.max_connections takes effect; a change that needs a restart is refused saying so.

The failing plugin is tests/helpers/plugins.py, registered beside the alerting plugin by running
the agent's CLI through `python -m tests.helpers.plugins`."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import promtext
from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.plugins import FAIL_LOAD, FAIL_RECONFIGURE
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WITH_FLAKY_PLUGIN: dict[str, Any] = {
    "agent_command": (sys.executable, "-m", "tests.helpers.plugins"),
    "env": {"PYTHONPATH": str(ROOT)},
}


def config(agent: AgentProcess, **changes: Any) -> dict[str, Any]:
    """The running agent's config file with the keys in `changes` ("section.key": value)."""
    import yaml

    document: dict[str, Any] = yaml.safe_load(agent.config_path.read_text(encoding="utf-8"))
    for path, value in changes.items():
        section, key = path.split(".")
        document.setdefault(section, {})[key] = value
    return document


def reload(agent: AgentProcess, document: dict[str, Any]) -> None:
    """Write the config, send SIGHUP and wait until the agent logged the reload's outcome."""
    outcomes = ("configuration reloaded", "reload rejected", "reload failed")
    before = len([r for r in agent.log_records() if str(r.get("msg", "")).startswith(outcomes)])
    agent.write_config(document)
    agent.send_signal(signal.SIGHUP)
    wait_for(
        lambda: (
            len([r for r in agent.log_records() if str(r.get("msg", "")).startswith(outcomes)])
            > before
        ),
        "the reload's outcome in the log",
    )


def value(agent: AgentProcess, name: str, **labels: str) -> float | None:
    return promtext.value(agent.metrics(), name, **labels)


def test_a_plugin_failing_on_reload_leaves_the_agent_running_and_the_reload_reported() -> None:
    with running_agent({"agent": {"hostname": "h1"}}, **WITH_FLAKY_PLUGIN) as agent:
        assert value(agent, "flaky_plugin_hostname", hostname="h1") == 1
        reload(agent, config(agent, **{"agent.hostname": FAIL_RECONFIGURE}))
        # The page is rendered right after the reload.
        wait_for(
            lambda: value(agent, "aiops_agent_config_last_reload_successful") == 0,
            "aiops_agent_config_last_reload_successful 0",
        )
        assert agent.alive()
        assert value(agent, "aiops_agent_plugin_errors_total", plugin="flaky", call="reconfigure")
        assert value(agent, "flaky_plugin_hostname", hostname="h1") == 1  # its previous config
        messages = [r.get("msg") for r in agent.log_records()]
        assert "plugin failed to apply the reloaded configuration; it keeps the previous one" in (
            messages
        )
        collections = value(agent, "aiops_agent_collections_total") or 0
        wait_for(
            lambda: (value(agent, "aiops_agent_collections_total") or 0) > collections,
            "collections after the failed reload",
        )
        assert agent.get("/healthz")[0] == 200
        reload(agent, config(agent, **{"agent.hostname": "h2"}))
        wait_for(lambda: value(agent, "flaky_plugin_hostname", hostname="h2"), "the plugin on h2")
        assert value(agent, "aiops_agent_config_last_reload_successful") == 1


def test_a_plugin_failing_to_load_is_left_out_and_loaded_by_a_later_reload() -> None:
    with running_agent({"agent": {"hostname": FAIL_LOAD}}, **WITH_FLAKY_PLUGIN) as agent:
        assert value(agent, "aiops_agent_plugin_up", plugin="flaky") == 0
        assert value(agent, "aiops_agent_plugin_up", plugin="alerting") == 1
        assert value(agent, "aiops_agent_plugin_errors_total", plugin="flaky", call="load") == 1
        reload(agent, config(agent, **{"agent.hostname": "h3"}))
        wait_for(lambda: value(agent, "aiops_agent_plugin_up", plugin="flaky") == 1, "flaky up")
        assert value(agent, "flaky_plugin_hostname", hostname="h3") == 1


def test_max_connections_changes_on_reload() -> None:
    with running_agent({}) as agent:
        reload(agent, config(agent, **{"http.max_connections": 1}))
        assert value(agent, "aiops_agent_config_last_reload_successful") == 1
        with socket.create_connection((agent.host, agent.port), timeout=10) as held:
            # One request on a kept-alive connection: now it holds the only slot.
            held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert held.recv(4096).startswith(b"HTTP/1.1 200")
            status, body = agent.get("/healthz")
            assert (status, b"too many connections" in body) == (503, True)


def test_a_change_of_the_state_directory_is_refused_until_a_restart(tmp_path: Path) -> None:
    with running_agent({}) as agent:
        state = config(agent)["agent"]["state_dir"]
        reload(agent, config(agent, **{"agent.state_dir": str(tmp_path / "other")}))
        record = wait_for(
            lambda: [r for r in agent.log_records() if "restarted" in str(r.get("msg"))],
            "the refusal in the log",
        )[0]
        assert record["msg"] == (
            "reload rejected: a change of these keys takes effect only when the agent is "
            "restarted; the previous configuration stays in effect"
        )
        assert record["keys"] == "agent.state_dir"
        assert value(agent, "aiops_agent_config_last_reload_successful") == 0
        assert not (tmp_path / "other").exists() and Path(state).is_dir()
