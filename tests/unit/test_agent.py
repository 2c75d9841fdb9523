"""An in-process Agent (bound to a loopback port, not running its loop): on reload, a plugin that
fails cannot take the agent down, every http.* change is applied, and a change that needs a
restart is refused with a message that says so; the URL it gives its plugins for links back."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiops_agent.agent import Agent
from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.config import Config, load_config
from aiops_agent.config.keys import restart_changes, yaml_key
from tests import promtext
from tests.helpers.certs import make_pki
from tests.helpers.plugins import ENTRY, FAIL_LOAD, FAIL_RECONFIGURE, FlakyPlugin


def write(path: Path, hostname: str, **sections: dict[str, Any]) -> None:
    """The config file: state in the test's directory, a loopback port, `sections` merged in."""
    document: dict[str, Any] = {
        "agent": {"hostname": hostname, "state_dir": str(path.parent / "state")},
        "http": {"listen": "127.0.0.1:0"},
        "collectors": {"filesystem": {"enabled": False}},
    }
    for name, keys in sections.items():
        document.setdefault(name, {}).update(keys)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    write(path, "h1")
    return path


@pytest.fixture
def agent(config_path: Path) -> Iterator[Agent]:
    made = Agent(
        load_config(str(config_path), {}, required=True),
        str(config_path),
        plugins=LazyRegistry({"flaky": ENTRY}),
    )
    yield made
    made.http.server_close()


def page(agent: Agent) -> dict[str, promtext.Family]:
    return promtext.parse(agent.endpoints.dispatch(request("/metrics")).body.decode())


def value(agent: Agent, name: str, **labels: str) -> float:
    samples = [s for s in page(agent)[name].samples if labels.items() <= dict(s.labels).items()]
    assert len(samples) == 1, samples
    return samples[0].value


def request(path: str) -> Any:
    from aiops_agent.plugins import Request

    return Request("GET", path, "", {}, b"")


def test_a_plugin_that_fails_to_reconfigure_keeps_its_config_and_the_agent_runs(
    agent: Agent, config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(config_path, FAIL_RECONFIGURE, agent={"interval": 5})
    agent.reload()  # returns: the exception stayed inside the boundary
    assert agent.stats.reload_ok == 0.0
    assert value(agent, "aiops_agent_config_last_reload_successful") == 0
    assert value(agent, "aiops_agent_plugin_errors_total", plugin="flaky", call="reconfigure") == 1
    plugin = agent.plugins.plugins["flaky"]
    assert isinstance(plugin, FlakyPlugin) and plugin.hostname == "h1"  # the previous config
    assert agent.config.agent.hostname == FAIL_RECONFIGURE  # the core took the new one
    assert "plugin failed to apply the reloaded configuration" in caplog.text
    agent.cycle()  # the loop goes on, the plugin still fed
    assert plugin.snapshots == 1 and agent.health()[0]
    write(config_path, "h2")
    agent.reload()
    assert agent.stats.reload_ok == 1.0 and plugin.hostname == "h2"
    assert value(agent, "aiops_agent_config_last_reload_successful") == 1


def test_a_plugin_that_fails_to_load_is_left_out_and_tried_again_at_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.yaml"
    write(path, FAIL_LOAD)
    agent = Agent(
        load_config(str(path), {}, required=True),
        str(path),
        plugins=LazyRegistry({"flaky": ENTRY}),
    )
    try:
        assert agent.plugins.plugins == {}
        agent.cycle()
        assert value(agent, "aiops_agent_plugin_up", plugin="flaky") == 0
        assert value(agent, "aiops_agent_plugin_errors_total", plugin="flaky", call="load") == 1
        assert "plugin failed to load" in caplog.text
        write(path, "h3")
        agent.reload()
        assert value(agent, "aiops_agent_plugin_up", plugin="flaky") == 1
        assert value(agent, "flaky_plugin_hostname", hostname="h3") == 1
    finally:
        agent.http.server_close()


def test_every_http_key_is_applied_on_reload(agent: Agent, config_path: Path) -> None:
    server = agent.http
    write(config_path, "h1", http={"max_connections": 3, "request_timeout": "2s"})
    agent.reload()
    assert agent.http is server  # same address: reconfigured in place, not rebound
    assert (server.max_connections, server.request_timeout) == (3, 2.0)
    assert agent.stats.reload_ok == 1.0


def restart_keys(
    section: Any = Config, prefix: str = ""
) -> list[tuple[str, dataclasses.Field[Any]]]:
    found = []
    for field in dataclasses.fields(section):
        path = f"{prefix}{yaml_key(field.name)}"
        if field.metadata.get("restart"):
            found.append((path, field))
        default = getattr(section(), field.name)
        if dataclasses.is_dataclass(default):
            found.extend(restart_keys(type(default), f"{path}."))
    return found


def test_the_schema_has_restart_keys() -> None:
    assert [path for path, _ in restart_keys()] == ["agent.state_dir"]


@pytest.mark.parametrize("path", [path for path, _ in restart_keys()])
def test_a_reload_that_changes_a_restart_key_is_refused_saying_so(
    agent: Agent, config_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    section, name = path.split(".")
    document.setdefault(section, {})[name] = str(tmp_path / "elsewhere")
    document["agent"]["interval"] = 7
    config_path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        agent.reload()
    assert agent.stats.reload_ok == 0.0
    assert agent.config.agent.interval == 15  # nothing of it applied
    assert "takes effect only when the agent is restarted" in caplog.text
    assert [r.keys for r in caplog.records if hasattr(r, "keys")] == [path]  # type: ignore[attr-defined]
    assert restart_changes(agent.config, load_config(str(config_path), {})) == [path]


class PageAtOutcome(logging.Handler):
    """Reads /metrics' reload gauge at the moment the reload's outcome is logged."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent = agent
        self.seen: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "reload" in record.getMessage():
            gauge = value(self.agent, "aiops_agent_config_last_reload_successful")
            self.seen.append((record.getMessage(), gauge))


def test_metrics_show_the_reload_outcome_before_the_log_says_it(
    agent: Agent, config_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever reads the log line and then scrapes sees the same outcome (CI once read 1 after
    "reload rejected")."""
    watcher = PageAtOutcome(agent)
    logging.getLogger("aiops_agent").addHandler(watcher)
    caplog.set_level(logging.INFO, logger="aiops_agent")
    try:
        write(config_path, "h1", agent={"state_dir": str(tmp_path / "elsewhere")})
        agent.reload()
        write(config_path, "h2")
        agent.reload()
    finally:
        logging.getLogger("aiops_agent").removeHandler(watcher)
    assert [(message.split(":")[0].split(";")[0], gauge) for message, gauge in watcher.seen] == [
        ("reload rejected", 0.0),
        ("configuration reloaded", 1.0),
    ]


def test_a_reload_outcome_names_the_line_that_decided_it(
    agent: Agent, config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The outcome is logged after /metrics is re-rendered, from a record built earlier: it
    still carries the source line and function a text log shows, not line 0."""
    caplog.set_level(logging.INFO, logger="aiops_agent")
    write(config_path, "h2")
    agent.reload()
    (record,) = [r for r in caplog.records if r.getMessage() == "configuration reloaded"]
    assert record.funcName == "_apply_reload"
    assert record.pathname.endswith("agent.py")
    assert record.lineno > 0


def test_plugins_link_back_to_the_bound_port_by_host_name_and_scheme(
    agent: Agent, config_path: Path, tmp_path: Path
) -> None:
    """Not 127.0.0.1 (another machine from where the link is opened), not port 0 (the config's),
    https once TLS is on."""
    port = agent.http.port
    assert agent.public_url() == f"http://h1:{port}"
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    web.write_text(yaml.safe_dump({"tls_server_config": tls}), encoding="utf-8")
    write(config_path, "h1", http={"web_config_file": str(web)})
    agent.reload()
    assert agent.public_url() == f"https://h1:{port}"


def test_a_reload_switches_the_process_view_and_groups(agent: Agent, config_path: Path) -> None:
    """The process table follows processes.* and the groups at reload: off, nothing is scanned
    and no view reaches the plugins; on again, a view after the cycle."""
    seen: list[Any] = []
    agent.plugins.on_snapshot = lambda snapshot: seen.append(snapshot.processes)  # type: ignore[method-assign]
    agent.cycle()
    assert seen[-1] is not None and seen[-1].processes > 0
    write(config_path, "h1", processes={"enabled": False})
    agent.reload()
    agent.cycle()
    assert seen[-1] is None
    assert "aiops_agent_process_table_processes" not in page(agent)
    groups = {"process_groups": {"process_names": [{"name": "me", "cmdline": ["."]}]}}
    write(config_path, "h1", processes={"enabled": False}, collectors=groups)
    agent.reload()
    agent.cycle()
    assert seen[-1] is None  # groups alone: a table for them, no view
    assert value(agent, "namedprocess_namegroup_num_procs", groupname="me") > 0
