"""Every panel of the mixin's dashboards (mixin/dashboards_out/), queried as Grafana would query
it, against a real Prometheus (Debian's) that scrapes two running agents and node_exporter with
the mixin's alerts loaded.

Two agents in two jobs: a quiet one (a webhook receiver configured, nothing firing) and one in an incident (a rule that fires at
once, notifications re-sent every second to a receiver that accepts and one that rejects them).
Every panel's queries must parse; on the quiet host each must return data, except the panels
whose description says they show data only during an incident; those must return data on the
host in the incident, checked after its alert has fired. The template variables are substituted
as Grafana does ($job, $instance, $__rate_interval), and the variables' own label_values()
queries must list the agents."""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests import promtext
from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.prometheus import Prometheus, running_prometheus
from tests.helpers.receivers import Behaviour, recording

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BOARDS = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((ROOT / "mixin/dashboards_out").glob("*.json"))
}
INCIDENT_ONLY = "Shows data only during an incident"
QUIET_JOB, INCIDENT_JOB, NODE_JOB = "aiops-agent", "aiops-agent-incident", "node"
RATE_INTERVAL = "15s"  # what Grafana makes of $__rate_interval at a 1s scrape interval
WINDOW = 60.0  # seconds of range queries, as a short dashboard time range

COMMON = {
    "detection": {"baselines": {"warmup": 3}},
    "collectors": {
        "process_groups": {"process_names": [{"name": "python", "cmdline": ["python"]}]}
    },
}


class Target(NamedTuple):
    dashboard: str
    panel: str
    incident_only: bool
    expr: str
    instant: bool


def targets() -> list[Target]:
    found = []
    for name, board in BOARDS.items():
        for panel in board["panels"]:
            incident = INCIDENT_ONLY in panel.get("description", "")
            for target in panel.get("targets", []):
                found.append(
                    Target(name, panel["title"], incident, target["expr"], target["instant"])
                )
    return found


class Fleet(NamedTuple):
    prometheus: Prometheus
    quiet: AgentProcess
    incident: AgentProcess
    node_exporter: str  # its instance (host:port)


def _instance(url: str) -> str:
    return str(urllib.parse.urlsplit(url).netloc)


def _quiet_config(receiver: str) -> dict[str, Any]:
    """A host as users run it: a receiver configured, nothing firing."""
    return {
        **COMMON,
        "receivers": {"accepting": {"webhook": {"url": receiver}}},
        "routes": [{"receiver": "accepting"}],
    }


def _incident_config(accepting: str, rejecting: str) -> dict[str, Any]:
    return {
        **COMMON,
        "detection": {
            **COMMON["detection"],
            "rules": [{"name": "DashboardDrill", "metric": "node_time_seconds", "warning": 0}],
        },
        "alerting": {"repeat_interval": 1},
        "receivers": {
            "accepting": {"webhook": {"url": accepting}},
            "rejecting": {"webhook": {"url": rejecting}},
        },
        "routes": [
            {"receiver": "accepting", "continue": True},
            {"receiver": "rejecting"},
        ],
    }


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with (
        recording() as accepting,
        recording() as rejecting,
        promtext.node_exporter() as node_exporter,
        running_agent(_quiet_config(accepting.url + "/quiet")) as quiet,
        running_agent(
            _incident_config(accepting.url + "/hook", rejecting.url + "/hook")
        ) as incident,
    ):
        rejecting.default = Behaviour(status=400)
        jobs = {
            QUIET_JOB: quiet.url,
            INCIDENT_JOB: incident.url,
            NODE_JOB: node_exporter,
        }
        scrape_configs = [
            {"job_name": job, "static_configs": [{"targets": [_instance(url)]}]}
            for job, url in jobs.items()
        ]
        rules = {"rule_files": [str(ROOT / "mixin/prometheus_alerts.yaml")]}
        with running_prometheus(scrape_configs, scrape_interval="1s", extra_config=rules) as prom:
            # Every target up, two samples in every rate window, scores past the warm-up.
            for expr in (
                "count(up == 1) == 3",
                "count(rate(aiops_agent_collections_total[15s]) > 0) == 2",
                "count(count by (job) (rate(node_cpu_seconds_total[15s]))) == 3",
                "count(count by (job) (aiops_agent_anomaly_score)) == 2",
            ):
                prom.wait_for(expr, timeout=90)
            yield Fleet(prom, quiet, incident, _instance(node_exporter))


def _substitute(expr: str, job: str, instance: str) -> str:
    for variable, value in (
        ("$__rate_interval", RATE_INTERVAL),
        ("$job", job),
        ("$instance", instance),
    ):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a variable left unsubstituted: {expr}"
    return expr


def _values(prometheus: Prometheus, target: Target, job: str, instance: str) -> list[float]:
    """Every value the panel's query returns (a query that does not parse fails here, with
    Prometheus' error)."""
    expr = _substitute(target.expr, job, instance)
    if target.instant:
        data = prometheus.api("query", query=expr)
        return [float(item["value"][1]) for item in data["result"]]
    end = time.time()
    data = prometheus.api(
        "query_range", query=expr, start=str(end - WINDOW), end=str(end), step="2"
    )
    return [float(value) for item in data["result"] for _, value in item["values"]]


def _has_data(values: list[float]) -> bool:
    return any(not math.isnan(value) for value in values)


def test_the_mixin_alerts_are_loaded(fleet: Fleet) -> None:
    groups = fleet.prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {group["name"] for group in groups} >= {"aiops-agent", "aiops-agent-self"}
    assert rules, groups
    assert all(rule["health"] == "ok" for rule in rules), rules


def test_every_panel_parses_and_shows_data_on_a_quiet_host(fleet: Fleet) -> None:
    quiet = _instance(fleet.quiet.url)
    empty, checked, panels = [], 0, set()
    for target in targets():
        values = _values(fleet.prometheus, target, QUIET_JOB, quiet)
        checked += 1
        panels.add((target.dashboard, target.panel))
        if not target.incident_only and not _has_data(values):
            empty.append(f"{target.dashboard} / {target.panel}: {target.expr}")
    incident_panels = {(t.dashboard, t.panel) for t in targets() if t.incident_only}
    print(
        f"\n{len(BOARDS)} dashboards, {len(panels)} panels with {checked} queries; "
        f"{len(incident_panels)} panels incident-only"
    )
    assert not empty, "panels without data on a quiet host:\n" + "\n".join(empty)
    assert checked > 40, checked  # the dashboards are what we think


def test_incident_only_panels_show_data_once_an_alert_fired(fleet: Fleet) -> None:
    prometheus, instance = fleet.prometheus, _instance(fleet.incident.url)
    # The alert fired (Prometheus has its ALERTS series from the agent), and its notifications
    # were delivered and dead-lettered within the rate window, before any panel is read.
    for expr in (
        f'ALERTS{{job="{INCIDENT_JOB}", alertname="DashboardDrill", alertstate="firing"}}',
        f'rate(aiops_agent_notifications_sent_total{{job="{INCIDENT_JOB}"}}[15s]) > 0',
        f'rate(aiops_agent_notifications_dead_letters_total{{job="{INCIDENT_JOB}"}}[15s]) > 0',
    ):
        prometheus.wait_for(expr, timeout=90)
    incident = [t for t in targets() if t.incident_only]
    empty = [
        f"{t.dashboard} / {t.panel}: {t.expr}"
        for t in incident
        if not _has_data(_values(prometheus, t, INCIDENT_JOB, instance))
    ]
    assert not empty, "incident-only panels without data during an incident:\n" + "\n".join(empty)
    assert len(incident) >= 4, incident


_NODE_ONLY = re.compile(r"\b(?:aiops_agent_|ALERTS|process_)")


def test_host_panels_on_node_series_show_data_for_node_exporter_too(fleet: Fleet) -> None:
    """The host dashboard's panels that read only node_* series work for a host scraped from
    node_exporter, since the agent publishes node_exporter's names."""
    host_node_only = [
        t
        for t in targets()
        if t.dashboard == "aiops-agent-host" and "node_" in t.expr and not _NODE_ONLY.search(t.expr)
    ]
    empty = [
        f"{t.panel}: {t.expr}"
        for t in host_node_only
        if not _has_data(_values(fleet.prometheus, t, NODE_JOB, fleet.node_exporter))
    ]
    assert not empty, "\n".join(empty)
    assert len(host_node_only) >= 8, host_node_only


_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


def test_template_variables_list_the_agents(fleet: Fleet) -> None:
    quiet, incident = _instance(fleet.quiet.url), _instance(fleet.incident.url)
    for name, board in BOARDS.items():
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = _LABEL_VALUES.match(variable["query"])
            assert match, f"{name}: ${variable['name']}: {variable['query']}"
            selector, label = match.groups()
            selector = _substitute(selector, ".+", ".+")
            listed = set(fleet.prometheus.api(f"label/{label}/values", **{"match[]": selector}))
            expected = {"job": {QUIET_JOB, INCIDENT_JOB}, "instance": {quiet, incident}}[label]
            assert listed == expected, f"{name}: ${variable['name']}: {listed}"
    # The data source variable picks Prometheus data sources.
    assert all(
        v["query"] == "prometheus"
        for board in BOARDS.values()
        for v in board["templating"]["list"]
        if v["type"] == "datasource"
    )
