"""The long-running agent: a collection loop on a fixed cadence, the latest snapshot kept in memory
and served over HTTP, plugins fed after each collection, reloads on SIGHUP and a clean stop on
SIGTERM. Scrapes read the rendered page; they never trigger a collection."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
import zlib
from typing import Any, Optional

from aiops_agent import __version__
from aiops_agent.collectors import Collector, build_collectors
from aiops_agent.config import Config, ConfigError, load_config
from aiops_agent.exposition import CONTENT_TYPE, render
from aiops_agent.host import HostPaths
from aiops_agent.httpserver import HttpServer
from aiops_agent.logs import RateLimitedLog
from aiops_agent.model import MetricFamily, Sample, Snapshot, counter, gauge
from aiops_agent.plugins import Plugin, Request, Response, load_plugins
from aiops_agent.selfmetrics import ProcessMetrics, build_info, scrape_collector_families
from aiops_agent.statedir import StateDirProbe
from aiops_agent.systemd import Notifier
from aiops_agent.webconfig import AUTH_RESULTS, WebSecurity, load_security

log = logging.getLogger("aiops_agent")

HEALTHY_INTERVALS = 3  # /healthz fails when no collection finished within this many intervals
COMPAT_PREFIX, OWN_HOST_PREFIX = "node_", "aiops_host_"
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Z][a-z])")
# promtool reads "sec" as an abbreviated unit and flags "bits" as not a base unit (the entropy
# families' help says they count bits).
_SPELLED_OUT = {"sec": "secondary", "bits": ""}


def default_state_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/aiops-agent"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "aiops-agent")


class CollectorStats:
    __slots__ = ("duration", "errors", "success")

    def __init__(self) -> None:
        self.duration = 0.0
        self.success = 0.0
        self.errors = 0


def collect_once(
    collectors: list[Collector],
    stats: dict[str, CollectorStats],
    errors_log: RateLimitedLog,
    compat_names: bool,
) -> list[MetricFamily]:
    """Run every collector, isolating failures: one that raises is counted and logged, the
    others still publish."""
    families: list[MetricFamily] = []
    for collector in collectors:
        entry = stats.setdefault(collector.name, CollectorStats())
        started = time.perf_counter()
        try:
            produced = collector.collect()
            entry.success = 1.0
        except Exception as error:  # any failure of one collector, by design
            produced = []
            entry.success = 0.0
            entry.errors += 1
            errors_log.error(
                collector.name,
                "collector failed",
                collector=collector.name,
                error=f"{type(error).__name__}: {error}",
            )
        entry.duration = time.perf_counter() - started
        families.extend(produced)
    if not compat_names:
        families = [
            family._replace(name=own_host_name(family.name, family.kind))
            if family.name.startswith(COMPAT_PREFIX)
            else family
            for family in families
        ]
    return families


def own_host_name(compatible_name: str, kind: str = "counter") -> str:
    """node_memory_MemTotal_bytes -> aiops_host_memory_mem_total_bytes: our prefix, and names
    promtool's lint accepts, which node_exporter's meminfo names are not: snake case, no word
    promtool reads as an abbreviated unit, and "_total" only on counters."""
    parts = _CAMEL_BOUNDARY.sub("_", compatible_name[len(COMPAT_PREFIX) :]).lower().split("_")
    spelled = (_SPELLED_OUT.get(part, part) for part in parts)
    name = OWN_HOST_PREFIX + "_".join(part for part in spelled if part)
    return name[: -len("_total")] if kind != "counter" and name.endswith("_total") else name


class Agent:
    def __init__(self, config: Config, config_path: Optional[str]) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = Notifier()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self._started_monotonic = time.monotonic()
        self._last_collection_monotonic: Optional[float] = None
        self._last_collection_wall = 0.0
        self._collections = 0
        self._overruns = 0
        self._cycle_seconds = 0.0
        self._reload_ok = 1.0
        self._reload_wall = time.time()
        self._collector_stats: dict[str, CollectorStats] = {}
        self._errors_log = RateLimitedLog(log)
        self._process = ProcessMetrics()
        self._page = b""
        self._page_gzip: Optional[bytes] = None
        self._page_lock = threading.Lock()
        self._host_families: list[MetricFamily] = []
        self.state_dir = config.agent.state_dir or default_state_dir()
        self._prepare_state_dir()
        self._state_probe = StateDirProbe(self.state_dir)
        self._collectors = build_collectors(
            config.collectors, HostPaths.under(config.agent.host_root)
        )
        self.plugins: list[Plugin] = load_plugins(config, self.state_dir)
        self._routes = self._build_routes()
        self.http = self._bind(config, load_security(config, config_path))

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
        next_tick = time.monotonic()
        while not self._stop.is_set():
            if self._reload_requested:
                self._reload_requested = False
                self._reload()
            now = time.monotonic()
            if now >= next_tick:
                self._cycle()
                if self._collections == 1:
                    self.notifier.ready(f"collecting every {self.config.agent.interval:g}s")
                interval = self.config.agent.interval
                # Keep the cadence on a fixed grid; when a cycle overran, skip the missed slots
                # instead of bunching collections together.
                missed = int((time.monotonic() - next_tick) // interval)
                self._overruns += missed
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
        for plugin in self.plugins:
            try:
                plugin.close(max(deadline - time.monotonic(), 0.1))
            except Exception:
                log.exception("plugin failed to close", extra={"plugin": plugin.name})
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

    def _bind(self, config: Config, web: WebSecurity) -> HttpServer:
        return HttpServer(
            config.http.listen,
            self._dispatch,
            self._compress,
            config.http.max_connections,
            config.http.request_timeout,
            web=web,
        )

    # --- reload ----------------------------------------------------------------------------
    def _reload(self) -> None:
        self.notifier.reloading()
        try:
            new = load_config(self.config_path, required=self.config_path is not None)
            # Re-read even when the path is unchanged: renewed certificates, changed users.
            web = load_security(new, self.config_path)
            if new.http.listen != self.config.http.listen:
                new_http = self._bind(new, web)  # bind before letting go of the old socket
                old_http, self.http = self.http, new_http
                old_http.stop()
                self.http.start()
            else:
                self.http.web = web
        except ConfigError as error:
            self._reload_ok = 0.0
            log.error(
                "reload rejected; the previous configuration stays in effect",
                extra={"errors": str(error)},
            )
        except OSError as error:
            self._reload_ok = 0.0
            log.error(
                "reload rejected: cannot listen on the new address; the previous "
                "configuration stays in effect",
                extra={"error": str(error)},
            )
        except Exception:  # a loader bug must not take the running agent down with it
            self._reload_ok = 0.0
            log.exception("reload failed; the previous configuration stays in effect")
        else:
            self.config = new
            self._collectors = build_collectors(
                new.collectors, HostPaths.under(new.agent.host_root)
            )
            for plugin in self.plugins:
                plugin.reconfigure(new)
            self._reload_ok = 1.0
            self._reload_wall = time.time()
            logging.getLogger().setLevel(new.log.level.upper())
            log.info("configuration reloaded")
        self._render()
        self.notifier.ready("configuration reloaded" if self._reload_ok else "reload rejected")

    # --- collection ------------------------------------------------------------------------
    def _cycle(self) -> None:
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
            self._collector_stats,
            self._errors_log,
            self.config.metrics.node_exporter_names,
        )
        snapshot = Snapshot(wall, self._host_families)
        for plugin in self.plugins:
            try:
                plugin.on_snapshot(snapshot)
            except Exception:
                self._errors_log.error(f"plugin:{plugin.name}", "plugin failed", plugin=plugin.name)
        self._cycle_seconds = time.perf_counter() - started
        self._collections += 1
        self._last_collection_monotonic = time.monotonic()
        self._last_collection_wall = wall
        self._render()

    def _self_families(self) -> list[MetricFamily]:
        names = sorted(self._collector_stats)
        stats = self._collector_stats
        return [
            build_info(),
            gauge(
                "aiops_agent_collector_duration_seconds",
                "Seconds the collector took in the latest collection.",
                [Sample((("collector", n),), stats[n].duration) for n in names],
            ),
            gauge(
                "aiops_agent_collector_success",
                "1 if the collector's latest run succeeded.",
                [Sample((("collector", n),), stats[n].success) for n in names],
            ),
            counter(
                "aiops_agent_collector_errors_total",
                "Collector runs that raised an error.",
                [Sample((("collector", n),), float(stats[n].errors)) for n in names],
            ),
            gauge(
                "aiops_agent_collection_duration_seconds",
                "Seconds the latest collection cycle took, plugins included.",
                [Sample((), self._cycle_seconds)],
            ),
            counter(
                "aiops_agent_collections_total",
                "Collection cycles completed.",
                [Sample((), float(self._collections))],
            ),
            counter(
                "aiops_agent_collection_overruns_total",
                "Collection slots skipped because a cycle took longer than the interval.",
                [Sample((), float(self._overruns))],
            ),
            gauge(
                "aiops_agent_last_collection_timestamp_seconds",
                "Unix time of the latest completed collection.",
                [Sample((), self._last_collection_wall)],
            ),
            gauge(
                "aiops_agent_collection_interval_seconds",
                "Configured collection interval.",
                [Sample((), float(self.config.agent.interval))],
            ),
            gauge(
                "aiops_agent_config_last_reload_successful",
                "1 if the latest configuration reload succeeded, 0 if it was rejected.",
                [Sample((), self._reload_ok)],
            ),
            gauge(
                "aiops_agent_config_last_reload_success_timestamp_seconds",
                "Unix time of the latest successful configuration load.",
                [Sample((), self._reload_wall)],
            ),
            self._state_probe.family(),
            *self._auth_families(),
            *self._process.collect(),
            *(
                scrape_collector_families(
                    {n: stats[n].duration for n in names}, {n: stats[n].success for n in names}
                )
                if self.config.metrics.node_exporter_names
                else []
            ),
        ]

    def _auth_families(self) -> list[MetricFamily]:
        if self.http.web.auth is None:
            return []
        counts = AUTH_RESULTS.snapshot()
        return [
            counter(
                "aiops_agent_http_basic_auth_checks_total",
                "Basic-auth checks of requests: cached (matched a password verified before), "
                "verified (bcrypt ran and matched) or rejected.",
                [Sample((("result", r),), float(counts[r])) for r in AUTH_RESULTS.RESULTS],
            )
        ]

    def _render(self) -> None:
        families = [*self._host_families, *self._self_families()]
        for plugin in self.plugins:
            try:
                families.extend(plugin.metrics())
            except Exception:
                self._errors_log.error(
                    f"plugin-metrics:{plugin.name}", "plugin metrics failed", plugin=plugin.name
                )
        page = render(families).encode()
        with self._page_lock:
            self._page, self._page_gzip = page, None

    # --- HTTP ------------------------------------------------------------------------------
    def _build_routes(self) -> dict[str, Any]:
        routes: dict[str, Any] = {
            "/metrics": self._metrics,
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/": self._index,
        }
        for plugin in self.plugins:
            routes.update(plugin.routes())
        return routes

    def _dispatch(self, request: Request) -> Response:
        handler = self._routes.get(request.path)
        if handler is None:
            return _json(404, {"error": "not found", "paths": sorted(self._routes)})
        builtin = request.path in ("/metrics", "/healthz", "/readyz", "/")
        if builtin and request.method not in ("GET", "HEAD"):
            return Response(
                405, b'{"error": "method not allowed"}\n', headers=(("Allow", "GET, HEAD"),)
            )
        result: Response = handler(request)
        return result

    def _metrics(self, request: Request) -> Response:
        with self._page_lock:
            page = self._page
        return Response(200, page, CONTENT_TYPE)

    def _compress(self, body: bytes) -> bytes:
        """gzip for clients that ask; the metrics page is compressed once per collection, however
        many scrapers fetch it."""
        with self._page_lock:
            if body is self._page:
                if self._page_gzip is None:
                    self._page_gzip = _gzip(body)
                return self._page_gzip
        return _gzip(body)

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

    def _healthz(self, request: Request) -> Response:
        healthy, body = self.health()
        return _json(200 if healthy else 503, body)

    def _readyz(self, request: Request) -> Response:
        # The count goes up just before the first page is rendered: ready means there is a page.
        ready = self._collections > 0 and bool(self._page)
        return _json(
            200 if ready else 503,
            {"status": "ready" if ready else "starting", "collections": self._collections},
        )

    def _index(self, request: Request) -> Response:
        links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in sorted(self._routes) if p != "/")
        page = (
            "<html><head><title>aiops-agent</title></head><body>"
            f"<h1>aiops-agent {__version__}</h1><ul>{links}</ul></body></html>"
        )
        return Response(200, page.encode(), "text/html; charset=utf-8")


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, json.dumps(body).encode() + b"\n")


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
    return compressor.compress(data) + compressor.flush()
