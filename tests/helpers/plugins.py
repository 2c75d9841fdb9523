"""A plugin that fails on demand, to test the agent's error boundary around plugins in-process
and in a real `aiops-agent run` (see agent_with_plugins). What it does depends on the config's
agent.hostname: "fail-load" makes its factory raise, "fail-reconfigure" makes reconfigure raise;
any other name is taken and shown as flaky_plugin_hostname{hostname=NAME} on /metrics."""

from __future__ import annotations

import sys
from typing import Optional

from aiops_agent.base.model import MetricFamily, Sample, Snapshot, gauge
from aiops_agent.config.schema import Config
from aiops_agent.plugins import Route

FAIL_LOAD, FAIL_RECONFIGURE = "fail-load", "fail-reconfigure"
ENTRY = "tests.helpers.plugins:create"


class FlakyPlugin:
    name = "flaky"

    def __init__(self, config: Config) -> None:
        self.hostname = config.agent.hostname
        self.snapshots = 0

    def on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshots += 1

    def metrics(self) -> list[MetricFamily]:
        return [
            gauge(
                "flaky_plugin_hostname",
                "The hostname of the config the plugin runs with.",
                [Sample((("hostname", self.hostname),), 1.0)],
            )
        ]

    def routes(self) -> dict[str, Route]:
        return {}

    def reconfigure(self, config: Config) -> None:
        if config.agent.hostname == FAIL_RECONFIGURE:
            raise RuntimeError("reconfigure failed on purpose")
        self.hostname = config.agent.hostname

    def close(self, timeout: float) -> None:
        pass


def create(config: Config, state_dir: str) -> Optional[FlakyPlugin]:
    if config.agent.hostname == FAIL_LOAD:
        raise RuntimeError("load failed on purpose")
    return FlakyPlugin(config)


# `python -m tests.helpers.plugins run --config ...`: the agent's CLI with this plugin registered
# after the real one, for a real agent process (running_agent's agent_command).
if __name__ == "__main__":
    from aiops_agent import pluginhost
    from aiops_agent.base.lazy import LazyRegistry
    from aiops_agent.cli import main

    pluginhost.PLUGINS = LazyRegistry(
        {"alerting": "aiops_agent.alerting.plugin:create", "flaky": ENTRY}
    )
    sys.exit(main(sys.argv[1:]))
