"""The long-running agent: a collection loop on a fixed cadence, the latest snapshot kept in memory
and served over HTTP (routes.py), plugins fed after each collection (pluginhost.py), reloads on
SIGHUP and a clean stop on SIGTERM. Scrapes read the rendered page; they never trigger a
collection."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Optional

from aiops_agent import __version__
from aiops_agent.base import logs
from aiops_agent.base.lazy import LazyRegistry
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily, Snapshot
from aiops_agent.base.naming import host_name
from aiops_agent.collectors import (
    Collector,
    build_collectors,
    collect_once,
    new_process_table,
    wants_process_groups,
)
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config import Config, ConfigError, load_config
from aiops_agent.config.keys import restart_changes
from aiops_agent.exposition import render
from aiops_agent.httpserver import HttpServer
from aiops_agent.pluginhost import PluginHost
from aiops_agent.plugins import AgentContext
from aiops_agent.routes import Endpoints, MetricsPage
from aiops_agent.selfmetrics import LoopStats, ProcessMetrics, basic_auth_families, exposure_family
from aiops_agent.statedir import StateDirProbe
from aiops_agent.systemd import Notifier
from aiops_agent.webconfig import Exposure, WebSecurity, exposure, load_security

if TYPE_CHECKING:
    from aiops_agent.collectors.proctable import ProcessTable

log = logging.getLogger("aiops_agent")

HEALTHY_INTERVALS = 3  # /healthz fails when no collection finished within this many intervals


def default_state_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/aiops-agent"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "aiops-agent")


def _record(level: int, message: str, **fields: str) -> logging.LogRecord:
    """A log record of the agent's logger, built now and handled later; it names the line that
    built it, as a record logged there would."""
    caller = sys._getframe(1)
    return log.makeRecord(
        log.name,
        level,
        caller.f_code.co_filename,
        caller.f_lineno,
        message,
        (),
        None,
        func=caller.f_code.co_name,
        extra=fields,
    )


class RestartNeeded(Exception):
    """A reload changed keys only a restart applies (restart=True in the schema)."""


class Agent:
    def __init__(
        self,
        config: Config,
        config_path: Optional[str],
        *,
        log_overrides: tuple[Optional[str], Optional[str]] = (None, None),
        plugins: Optional[LazyRegistry] = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        # --log-level and --log-format, which a reload must not override.
        self._log_overrides = log_overrides
        self.notifier = Notifier()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self._started_monotonic = time.monotonic()
        self._exposure: Optional[Exposure] = None  # as last warned about
        self._last_collection_monotonic: Optional[float] = None
        self.stats = LoopStats()
        self._errors_log = RateLimitedLog(log)
        self._process = ProcessMetrics()
        self._page = MetricsPage()
        self._host_families: list[MetricFamily] = []
        self.state_dir = config.agent.state_dir or default_state_dir()
        self._prepare_state_dir()
        self._state_probe = StateDirProbe(self.state_dir)
        self._collectors, self._processes = self._build_collectors(config)
        self.endpoints = Endpoints(
            self._page,
            self.health,
            self.readiness,
            lambda: self.config.http.insecure_unauthenticated_writes,
        )
        # Bound (not yet serving) before the plugins start: they ask for public_url().
        self.http = self._bind(config, load_security(config, config_path))
        context = AgentContext(self.state_dir, self.public_url)
        self.plugins = PluginHost(context, self._errors_log, plugins)
        self.plugins.load(config)
        self.endpoints.set_plugin_routes(self.plugins.routes())

    # --- lifecycle -------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_reload_signal)
        self.http.start()
        log.info(
            "agent started",
            extra={
                "version": __version__,
                "listen": self.config.http.listen,
                "port": self.http.port,
                "tls": self.http.web.tls,
                "basic_auth": self.http.web.auth is not None,
                "interval_seconds": self.config.agent.interval,
                "state_dir": self.state_dir,
                "collectors": ",".join(c.name for c in self._collectors),
            },
        )
        self._exposure = self._warn_exposure(self._exposure)
        next_tick = time.monotonic()
        while not self._stop.is_set():
            if self._reload_requested:
                self._reload_requested = False
                self.reload()
            now = time.monotonic()
            if now >= next_tick:
                self.cycle()
                if self.stats.collections == 1:
                    self.notifier.ready(f"collecting every {self.config.agent.interval:g}s")
                interval = self.config.agent.interval
                # Keep the cadence on a fixed grid; when a cycle overran, skip the missed slots
                # instead of bunching collections together.
                missed = int((time.monotonic() - next_tick) // interval)
                self.stats.overruns += missed
                next_tick += (missed + 1) * interval
            self.notifier.watchdog()
            wait = next_tick - time.monotonic()
            if self.notifier.watchdog_interval:
                wait = min(wait, self.notifier.watchdog_interval)
            self._wake.wait(max(wait, 0.0))
            self._wake.clear()
        return self._shutdown()

    def _shutdown(self) -> int:
        self.notifier.stopping()
        log.info("agent stopping")
        deadline = time.monotonic() + self.config.agent.shutdown_timeout
        self.http.stop()
        self.plugins.close(deadline)
        log.info("agent stopped")
        return 0

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _on_stop_signal(self, signum: int, _frame: Any) -> None:
        self.request_stop()

    def _on_reload_signal(self, signum: int, _frame: Any) -> None:
        self._reload_requested = True
        self._wake.set()

    def _prepare_state_dir(self) -> None:
        try:
            os.makedirs(self.state_dir, mode=0o750, exist_ok=True)
        except OSError as error:
            log.warning(
                "state directory unavailable; features that keep state are degraded",
                extra={"state_dir": self.state_dir, "error": error.strerror},
            )

    def _build_collectors(self, config: Config) -> tuple[list[Collector], Optional[ProcessTable]]:
        """The collectors, and the process table behind the top-processes view (None with
        processes.enabled off), whose pass the process groups share."""
        host = HostPaths.under(config.agent.host_root)
        table = None
        if config.processes.enabled:
            table = new_process_table(config.processes, config.collectors, host)
        # Process groups are series a scraper rates: they need a pass every collection.
        every = 0.0 if wants_process_groups(config.collectors) else float(config.processes.interval)
        return build_collectors(config.collectors, host, table, refresh_every=every), table

    def public_url(self) -> str:
        """The base URL others reach this agent by: with the port the server bound (the
        config's may be 0) and https when TLS is on."""
        listen = self.config.http.listen._replace(port=self.http.port)
        return listen.public_url(
            tls=self.http.web.tls, hostname=host_name(self.config.agent.hostname)
        )

    def _bind(self, config: Config, web: WebSecurity) -> HttpServer:
        return HttpServer(
            config.http.listen,
            self.endpoints.dispatch,
            self._page.compress,
            config.http.max_connections,
            config.http.request_timeout,
            web=web,
        )

    # --- reload ----------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the config file and apply it. Everything that can fail runs before anything is
        replaced, so a rejected reload leaves the running config whole; then each plugin applies
        it behind its own error boundary. The outcome is logged after /metrics shows it, so whoever
        reads the log line and then scrapes sees the same outcome."""
        self.notifier.reloading()
        outcome = self._apply_reload()
        self.stats.reload_ok = 1.0 if outcome.levelno == logging.INFO else 0.0
        if self.stats.reload_ok:
            self.stats.reload_wall = time.time()
        self._render()
        if log.isEnabledFor(outcome.levelno):
            log.handle(outcome)
        self.notifier.ready("configuration reloaded" if self.stats.reload_ok else "reload rejected")

    def _apply_reload(self) -> logging.LogRecord:
        """Apply the config file if it is valid; the log record that tells the outcome (INFO when
        everything took effect)."""
        try:
            new = load_config(self.config_path, required=self.config_path is not None)
            restart = restart_changes(self.config, new)
            if restart:
                raise RestartNeeded(", ".join(restart))
            # Re-read even when the path is unchanged: renewed certificates, changed users.
            web = load_security(new, self.config_path)
            collectors = self._collectors
            processes = self._processes
            if (new.collectors, new.agent.host_root, new.processes) != (
                self.config.collectors,
                self.config.agent.host_root,
                self.config.processes,
            ):
                collectors, processes = self._build_collectors(new)
            self._apply_http(new, web)
        except ConfigError as error:
            return _record(
                logging.ERROR,
                "reload rejected; the previous configuration stays in effect",
                errors=str(error),
            )
        except RestartNeeded as error:
            return _record(
                logging.ERROR,
                "reload rejected: a change of these keys takes effect only when the agent is "
                "restarted; the previous configuration stays in effect",
                keys=str(error),
            )
        except OSError as error:
            return _record(
                logging.ERROR,
                "reload rejected: cannot listen on the new address; the previous "
                "configuration stays in effect",
                error=str(error),
            )
        except Exception as error:  # a loader bug must not take the running agent down with it
            record = _record(
                logging.ERROR, "reload failed; the previous configuration stays in effect"
            )
            record.exc_info = (type(error), error, error.__traceback__)
            return record
        old, self.config, self._collectors = self.config, new, collectors
        self._processes = processes
        failed = self.plugins.reconfigure(new, old)
        self.endpoints.set_plugin_routes(self.plugins.routes())
        if self._logging(new) != self._logging(old):
            logs.configure(*self._logging(new))
        self._exposure = self._warn_exposure(self._exposure)
        if failed:
            return _record(
                logging.ERROR,
                "configuration reloaded, except in plugins that could not apply it; they "
                "keep the previous one",
                plugins=",".join(failed),
            )
        return _record(logging.INFO, "configuration reloaded")

    def _logging(self, config: Config) -> tuple[str, str]:
        """The log level and format in effect: --log-level and --log-format win over the file."""
        level, log_format = self._log_overrides
        return level or config.log.level, log_format or config.log.format

    def _warn_exposure(self, previous: Optional[Exposure]) -> Exposure:
        """Warn, at start and on a reload that changes it, when the endpoints are reachable from
        the network without TLS; and whenever the config lets anyone there write."""
        current = exposure(self.config, self.http.web)
        if current.exposed and not current.tls and current != previous:
            log.warning(
                "HTTP endpoints exposed to the network without TLS: anyone who can reach this "
                "address reads the host's metrics and alerts, and credentials cross the network "
                "in clear; listen on loopback or configure tls_server_config (docs/security.md)",
                extra={"listen": str(self.config.http.listen), "auth": current.auth},
            )
        if self.config.http.insecure_unauthenticated_writes:
            log.warning(
                "http.insecure_unauthenticated_writes is on: anyone who reaches this address may "
                "create and expire silences without authenticating"
                if current.unauthenticated_writes
                else "http.insecure_unauthenticated_writes is on; it has no effect while the "
                "listener is on loopback or requires authentication",
                extra={"listen": str(self.config.http.listen), "auth": current.auth},
            )
        return current

    def _apply_http(self, new: Config, web: WebSecurity) -> None:
        """Raises OSError when the new address cannot be bound; the old server then still runs."""
        if new.http.listen != self.config.http.listen:
            new_http = self._bind(new, web)  # bind before letting go of the old socket
            old_http, self.http = self.http, new_http
            old_http.stop()
            self.http.start()
        else:
            self.http.reconfigure(new.http.max_connections, new.http.request_timeout, web)

    # --- collection ------------------------------------------------------------------------
    def cycle(self) -> None:
        started = time.perf_counter()
        wall = time.time()
        if not self._state_probe.probe():
            self._errors_log.error(
                "state_dir",
                "state directory not writable",
                state_dir=self.state_dir,
                error=self._state_probe.error,
            )
        self._host_families = collect_once(
            self._collectors,
            self.stats.collectors,
            self._errors_log,
            self.config.metrics.node_exporter_names,
        )
        view = None
        if self._processes is not None and self.stats.collectors["process_table"].success:
            view = self._processes.view(self.config.processes.top, wall)
        self.plugins.on_snapshot(Snapshot(wall, self._host_families, view))
        self.stats.cycle_seconds = time.perf_counter() - started
        self.stats.collections += 1
        self._last_collection_monotonic = time.monotonic()
        self.stats.last_collection_wall = wall
        self._render()

    def _render(self) -> None:
        families = [
            *self._host_families,
            *self.stats.families(self.config.agent.interval),
            self._state_probe.family(),
            *basic_auth_families(self.http.web),
            exposure_family(exposure(self.config, self.http.web)),
            *self._process.collect(),
            *(
                self.stats.scrape_collector_families()
                if self.config.metrics.node_exporter_names
                else []
            ),
            *self.plugins.metrics(),
        ]
        self._page.publish(render(families).encode())

    # --- health ----------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        limit = HEALTHY_INTERVALS * self.config.agent.interval
        last = self._last_collection_monotonic
        age = None if last is None else now - last
        healthy = (age is not None and age <= limit) or (
            last is None and now - self._started_monotonic <= limit
        )
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "last_collection_age_seconds": None if age is None else round(age, 3),
            "limit_seconds": limit,
            "version": __version__,
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        # The count goes up just before the first page is rendered: ready means there is a page.
        ready = self.stats.collections > 0 and bool(self._page.body)
        return ready, {
            "status": "ready" if ready else "starting",
            "collections": self.stats.collections,
        }
