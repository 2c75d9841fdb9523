"""The alerting plugin: after each collection it derives series (inode ratio, network link
utilisation, anomaly scores), evaluates the rules, steps the alert lifecycle and hands
notifications to the sink, all in O(series) on the collection thread. The sink (notify's
dispatcher) queues durably and never blocks, so a slow receiver cannot delay collection. The
alert state is saved in the state directory when it changes and at shutdown, and restored at
start (alertstore.py)."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any, Callable, Optional

from aiops_agent.alerting.alertstore import AlertStore
from aiops_agent.alerting.api import AlertingApi
from aiops_agent.alerting.lifecycle import Alert, Lifecycle
from aiops_agent.alerting.silences import SilenceStore, silences_from_config
from aiops_agent.alerting.sinks import Sink, create_sink
from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily, Sample, Snapshot, counter, gauge
from aiops_agent.base.naming import host_name
from aiops_agent.base.processes import ProcessView, annotation, resource_of_series
from aiops_agent.config.schema import Config
from aiops_agent.detection.anomaly_scores import AnomalyScorer
from aiops_agent.detection.derived import inodes_used_ratio, network_utilization_ratio
from aiops_agent.detection.rates import RateTracker
from aiops_agent.detection.rules import Rule, RuleEvaluator
from aiops_agent.plugins import AgentContext, Plugin, Route

log = logging.getLogger("aiops_agent.alerting")

SERIES_STALE_AFTER = 3600.0  # rate and forecast state of a series unseen this long is dropped


def create(config: Config, context: AgentContext) -> Optional[Plugin]:
    if not config.detection.enabled and not config.alerting.enabled:
        return None
    return AlertingPlugin(config, context)


def alert_instance(config: Config) -> str:
    """The instance label: the agent's address as a scraper would name it (see
    ListenAddress.authority)."""
    return config.http.listen.authority(host_name(config.agent.hostname))


class AlertingPlugin:
    name = "alerting"

    def __init__(
        self,
        config: Config,
        context: AgentContext,
        sink_factory: Callable[[Config, AgentContext], Optional[Sink]] = create_sink,
    ) -> None:
        self._context = context
        state_dir = context.state_dir
        self._sink_factory = sink_factory
        self._errors = RateLimitedLog(log)
        self._rates = RateTracker()
        self._evaluator = RuleEvaluator(self._rates)
        self._baselines: Optional[AnomalyScorer] = None
        self._lifecycle = Lifecycle("", "", 0.0, 0.0, 1)
        self.silences = SilenceStore(state_dir or None, config.alerting.max_silences)
        self._sink: Optional[Sink] = None
        self._families: list[MetricFamily] = []
        self._alerts_view: list[dict[str, Any]] = []
        self._notifications = {"firing": 0, "resolved": 0}
        self._evaluation_seconds = 0.0
        self._dropped_seen = 0
        self._api = AlertingApi(
            lambda: self._alerts_view,
            self.silences,
            lambda: self.config.alerting.silence_api,
            lambda: self._host_names,
        )
        self.reconfigure(config)
        # Taken back at the first snapshot, on the snapshots' clock and after reconfigure (which
        # sets max_alerts and the host and instance labels); None once restored.
        self._store = AlertStore(state_dir or None)
        self._saved: Optional[list[Alert]] = self._store.load()

    # --- Plugin ----------------------------------------------------------------------------
    def reconfigure(self, config: Config) -> None:
        self.config = config
        compat = config.metrics.node_exporter_names
        detection = config.detection
        self.rules = (
            [Rule(s, compat) for s in detection.effective_rules()] if detection.enabled else []
        )
        self._levels = {(rule.name, level.severity) for rule in self.rules for level in rule.levels}
        self._contexts = {rule.name: rule.settings.context for rule in self.rules}
        baselines = detection.baselines
        if detection.enabled and baselines.enabled:
            if self._baselines is None:
                state_dir = self._context.state_dir or None
                self._baselines = AnomalyScorer(baselines, compat, self._rates, state_dir)
            else:
                self._baselines.configure(baselines, compat)
        else:
            self._baselines = None
        alerting = config.alerting
        lifecycle = self._lifecycle
        lifecycle.host = host_name(config.agent.hostname)
        lifecycle.instance = alert_instance(config)
        lifecycle.repeat_interval = alerting.repeat_interval
        lifecycle.resolve_timeout = alerting.resolve_timeout
        lifecycle.max_alerts = alerting.max_alerts
        self.silences.max_silences = alerting.max_silences
        self.silences.set_config(silences_from_config(alerting.silences))
        self._host_names = {
            name.lower() for name in (config.agent.hostname, socket.gethostname()) if name
        }
        if alerting.enabled and self._sink is None:
            self._sink = self._sink_factory(config, self._context)
        elif not alerting.enabled and self._sink is not None:
            self._sink.close(1.0)
            self._sink = None
        elif self._sink is not None:
            self._sink.reconfigure(config)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        started = time.perf_counter()
        now = snapshot.timestamp
        if self._saved is not None:
            self._restore(self._saved, now)
            self._saved = None
        index = {family.name: family for family in snapshot.families}
        derived: list[MetricFamily] = []
        compat = self.config.metrics.node_exporter_names
        if self.config.detection.enabled:
            inodes = inodes_used_ratio(index, compat)
            if inodes is not None:
                derived.append(inodes)
            derived.append(network_utilization_ratio(index, compat, self._rates, now))
            if self._baselines is not None:
                derived.append(self._baselines.update(index, snapshot.families, now))
            index.update((family.name, family) for family in derived)
        details = self._baselines.details if self._baselines is not None else None
        for rule in self.rules:
            values = self._evaluator.values(rule, index, now)
            self._lifecycle.evaluate(rule, values, now, details)
        self._attach_context(snapshot.processes)
        if self._lifecycle.dropped > self._dropped_seen:
            self._dropped_seen = self._lifecycle.dropped
            self._errors.error(
                "max_alerts",
                "more alerts than alerting.max_alerts; the rest are not tracked",
                max_alerts=self._lifecycle.max_alerts,
            )
        names = {rule.name for rule in self.rules}
        events = self._lifecycle.finish(now, names, self.silences.silencing, self._levels)
        if events and self._sink is not None:
            try:
                self._sink.submit(events)
            except Exception as error:  # a notifier bug must not stop evaluation
                self._errors.error("submit", "alert notification failed", error=repr(error))
            else:
                for event in events:
                    self._notifications[event.status] += 1
        live = getattr(self._sink, "live", None)  # optional part of the Sink interface
        if live is not None:
            try:
                live({alert.fingerprint for alert in self._lifecycle.alerts()})
            except Exception as error:  # a notifier bug must not stop evaluation
                self._errors.error("live", "alert reconciliation failed", error=repr(error))
        cutoff = now - SERIES_STALE_AFTER
        self._rates.forget_older_than(cutoff)
        self._evaluator.forget_older_than(cutoff, names)
        if self._lifecycle.changed:
            self._save_alerts()
        self._alerts_view = [alert.as_json() for alert in self._lifecycle.alerts()]
        self._evaluation_seconds = time.perf_counter() - started
        self._families = derived + self._own_metrics()

    def _attach_context(self, view: Optional[ProcessView]) -> None:
        """Each alert whose rule names a `context` gets the top processes for that resource
        (field and top_processes annotation); without a view (processes.enabled off, or the
        pass failed) it gets none rather than a stale list."""
        for alert in self._lifecycle.alerts():
            context = self._contexts.get(alert.rule_name, "")
            if context == "series":
                context = resource_of_series(alert.labels.get("series", ""))
            processes = view.top(context) if view is not None and context else ()
            alert.context, alert.processes = (context, processes) if processes else ("", ())
            if processes:
                alert.annotations["top_processes"] = annotation(context, processes)
            else:
                alert.annotations.pop("top_processes", None)

    def metrics(self) -> list[MetricFamily]:
        families = list(self._families)
        if self._sink is not None:
            families.extend(self._sink.metrics())
        return families

    def routes(self) -> dict[str, Route]:
        return self._api.routes()

    def close(self, timeout: float) -> None:
        if self._saved is None:  # else stopped before the first snapshot: keep the file as is
            self._save_alerts()  # also when unchanged: the latest values and annotations
        if self._baselines is not None:
            self._baselines.save()
        if self._sink is not None:
            self._sink.close(timeout)

    def _restore(self, saved: list[Alert], now: float) -> None:
        left_out = self._lifecycle.restore(saved, now)
        if saved:
            log.info(
                "alert state restored",
                extra={"alerts": len(saved) - left_out, "path": self._store.path},
            )
        if left_out:
            log.error(
                "more saved alerts than alerting.max_alerts; the rest are not restored",
                extra={"left_out": left_out, "max_alerts": self._lifecycle.max_alerts},
            )

    def _save_alerts(self) -> None:
        """Called after the events of an evaluation were submitted (each is durably in the
        outbox by then), so a crash between the two re-sends rather than loses a notification."""
        try:
            self._store.save(self._lifecycle.alerts())
        except OSError as error:  # a full or read-only disk must not stop evaluation
            self._errors.error(
                "save-alerts",
                "cannot save the alert state; it will not survive a restart",
                path=self._store.path,
                error=error.strerror or type(error).__name__,
            )
        else:
            self._lifecycle.changed = False

    # --- own metrics -----------------------------------------------------------------------
    def _own_metrics(self) -> list[MetricFamily]:
        families = self._lifecycle.metrics()
        families.extend(
            [
                counter(
                    "aiops_agent_alert_notifications_total",
                    "Alert notifications handed to the notifier, by status.",
                    [Sample((("status", s),), float(n)) for s, n in self._notifications.items()],
                ),
                counter(
                    "aiops_agent_alerts_dropped_total",
                    "Alerts not tracked because alerting.max_alerts were active, counted at each "
                    "evaluation.",
                    [Sample((), float(self._lifecycle.dropped))],
                ),
                gauge(
                    "aiops_agent_alerting_rules",
                    "Rules evaluated.",
                    [Sample((), float(len(self.rules)))],
                ),
                gauge(
                    "aiops_agent_alerting_evaluation_seconds",
                    "Seconds the latest rule and baseline evaluation took.",
                    [Sample((), self._evaluation_seconds)],
                ),
            ]
        )
        if self._baselines is not None:
            families.extend(self._baselines.metrics())
        return families
