"""The runtime side of the plugin seam (plugins.py holds the contract): which plugins exist, each
imported by name at start-up of `run` only."""

from __future__ import annotations

from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.config.schema import Config
from aiops_agent.plugins import Plugin, PluginFactory

# Each entry is a module's create(config, state_dir).
PLUGINS = LazyRegistry({"alerting": "aiops_agent.alerting.plugin:create"})


def load_plugins(config: Config, state_dir: str) -> list[Plugin]:
    plugins: list[Plugin] = []
    for name in PLUGINS.names():
        factory: PluginFactory = PLUGINS.load(name)
        plugin = factory(config, state_dir)
        if plugin is not None:
            plugins.append(plugin)
    return plugins
