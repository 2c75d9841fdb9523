"""The runtime side of the plugin seam (plugins.py holds the contract): which plugins exist, each
imported by name when `run` starts, and every call into them behind an error boundary, as each
collector has one.

A plugin that fails to load is logged and counted, and the agent runs without it: an agent that
serves its metrics and health (where aiops_agent_plugin_up says what is missing) is worth more than
one that exits and restarts in a loop. It is tried again at each reload. A plugin that fails to
apply a reloaded config is put back on the previous one, and the reload reported as failed."""

from __future__ import annotations

import logging
import time
from typing import Optional

from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily, Sample, Snapshot, counter, gauge
from aiops_agent.config.schema import Config
from aiops_agent.plugins import AgentContext, Plugin, PluginFactory, Route

log = logging.getLogger("aiops_agent")

# Each entry is a module's create(config, context).
PLUGINS = LazyRegistry({"alerting": "aiops_agent.alerting.plugin:create"})


class PluginHost:
    def __init__(
        self,
        context: AgentContext,
        errors_log: RateLimitedLog,
        registry: Optional[LazyRegistry] = None,
    ) -> None:
        self._context = context
        self._errors_log = errors_log
        self._registry = registry or PLUGINS
        self.plugins: dict[str, Plugin] = {}
        self._up: dict[str, float] = {}  # 0 for a plugin that failed to load
        self._errors: dict[tuple[str, str], int] = {}  # (plugin, call) -> count

    def load(self, config: Config) -> list[str]:
        """Create the plugins not running yet: all at start-up; at a reload, those that failed to
        load before or that the previous config left off. Returns those that failed."""
        failed = []
        for name in self._registry.names():
            if name in self.plugins:
                continue
            try:
                factory: PluginFactory = self._registry.load(name)
                plugin = factory(config, self._context)
            except Exception:  # any failure of one plugin, by design
                failed.append(name)
                self._count(name, "load")
                self._up[name] = 0.0
                log.exception(
                    "plugin failed to load; the agent runs without it (a reload tries again)",
                    extra={"plugin": name},
                )
                continue
            if plugin is not None:
                self.plugins[name] = plugin
                self._up[name] = 1.0
        return failed

    def reconfigure(self, new: Config, old: Config) -> list[str]:
        """Apply a reloaded config; returns the plugins that could not (each is given `old` back,
        so it keeps running as before) or failed to load."""
        failed = []
        for name, plugin in self.plugins.items():
            try:
                plugin.reconfigure(new)
            except Exception:
                failed.append(name)
                self._count(name, "reconfigure")
                log.exception(
                    "plugin failed to apply the reloaded configuration; it keeps the previous one",
                    extra={"plugin": name},
                )
                try:
                    plugin.reconfigure(old)
                except Exception:
                    log.exception(
                        "plugin failed to take the previous configuration back",
                        extra={"plugin": name},
                    )
        return failed + self.load(new)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        for name, plugin in self.plugins.items():
            try:
                plugin.on_snapshot(snapshot)
            except Exception as error:
                self._count(name, "on_snapshot")
                # The type only: a message may quote a URL with a token in it.
                self._errors_log.error(
                    f"plugin:{name}", "plugin failed", plugin=name, error=type(error).__name__
                )

    def metrics(self) -> list[MetricFamily]:
        families = []
        for name, plugin in self.plugins.items():
            try:
                families.extend(plugin.metrics())
            except Exception as error:
                self._count(name, "metrics")
                self._errors_log.error(
                    f"plugin-metrics:{name}",
                    "plugin metrics failed",
                    plugin=name,
                    error=type(error).__name__,
                )
        families.append(
            gauge(
                "aiops_agent_plugin_up",
                "1 if the plugin is running, 0 if it failed to load (its features are off).",
                [Sample((("plugin", name),), up) for name, up in sorted(self._up.items())],
            )
        )
        families.append(
            counter(
                "aiops_agent_plugin_errors_total",
                "Calls into a plugin that raised, by plugin and call.",
                [
                    Sample((("plugin", name), ("call", call)), float(count))
                    for (name, call), count in sorted(self._errors.items())
                ],
            )
        )
        return families

    def routes(self) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        for name, plugin in self.plugins.items():
            try:
                routes.update(plugin.routes())
            except Exception:
                self._count(name, "routes")
                log.exception("plugin failed to list its routes", extra={"plugin": name})
        return routes

    def close(self, deadline: float) -> None:
        """Stop every plugin by the time.monotonic() `deadline` (each gets at least 0.1 s)."""
        for name, plugin in self.plugins.items():
            try:
                plugin.close(max(deadline - time.monotonic(), 0.1))
            except Exception:
                log.exception("plugin failed to close", extra={"plugin": name})

    def _count(self, name: str, call: str) -> None:
        self._errors[(name, call)] = self._errors.get((name, call), 0) + 1
