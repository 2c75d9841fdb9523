"""The alerting plugin end to end on hand-made snapshots: config loading, default rules on
collected names (both naming modes), derived inode series, notifications to a fake sink, metrics,
reload, and the HTTP handlers with their cross-site guards."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from aiops_agent.alerting.plugin import AlertingPlugin, alert_instance, create
from aiops_agent.base.listen import ListenAddress
from aiops_agent.base.model import MetricFamily, Sample, Snapshot, counter, gauge
from aiops_agent.base.processes import ProcessSummary, ProcessView, resource_of_series, union
from aiops_agent.config import Config
from aiops_agent.config.alerting_schema import DEFAULT_RULES
from aiops_agent.plugins import AgentContext, Request
from tests.helpers.alerting import FakeSink, config_from, context, host_families


def make_plugin(tmp_path: Path, data: dict[str, Any]) -> tuple[AlertingPlugin, FakeSink]:
    sink = FakeSink()
    config = config_from(tmp_path, {"agent": {"hostname": "h1"}, **data})
    plugin = AlertingPlugin(config, context(tmp_path / "state"), lambda c, s: sink)
    (tmp_path / "state").mkdir(exist_ok=True)
    return plugin, sink


def by_name(families: list[MetricFamily]) -> dict[str, MetricFamily]:
    return {f.name: f for f in families}


def test_create_returns_none_when_both_sections_are_off() -> None:
    from dataclasses import replace

    config = Config()
    off = replace(
        config,
        detection=replace(config.detection, enabled=False),
        alerting=replace(config.alerting, enabled=False),
    )
    assert create(off, AgentContext("", lambda: "")) is None


def test_default_inode_rule_fires_on_the_derived_series(tmp_path: Path) -> None:
    plugin, sink = make_plugin(
        tmp_path, {"detection": {"default_rules": {"HostFilesystemInodes": {"for": 0}}}}
    )
    plugin.on_snapshot(Snapshot(1000.0, host_families(inodes_free=20.0)))
    (event,) = sink.events
    assert event.labels["alertname"] == "HostFilesystemInodes"
    assert event.labels["severity"] == "critical"  # 98% of inodes used
    assert event.labels["mountpoint"] == "/" and event.labels["host"] == "h1"
    assert "/ has used 98.0% of its inodes on h1" in event.annotations["summary"]
    families = by_name(plugin.metrics())
    (ratio,) = families["aiops_agent_filesystem_inodes_used_ratio"].samples
    assert ratio.value == pytest.approx(0.98)
    assert "fake_sink_up" in families


def test_default_rules_work_with_aiops_host_names(tmp_path: Path) -> None:
    plugin, sink = make_plugin(
        tmp_path,
        {
            "metrics": {"node_exporter_names": False},
            "detection": {"default_rules": {"HostFilesystemInodes": {"for": 0}}},
        },
    )
    plugin.on_snapshot(Snapshot(1000.0, host_families(prefix="aiops_host_", inodes_free=20.0)))
    assert [e.labels["alertname"] for e in sink.events] == ["HostFilesystemInodes"]


def test_user_rule_for_and_alerts_metrics(tmp_path: Path) -> None:
    rule = {
        "name": "Busy",
        "metric": "aiops_agent_cpu_utilization_ratio",
        "warning": 0.5,
        "for": "2s",
    }
    plugin, sink = make_plugin(tmp_path, {"detection": {"rules": [rule]}})
    plugin.on_snapshot(Snapshot(1000.0, host_families(cpu=0.9)))
    families = by_name(plugin.metrics())
    (alert,) = families["ALERTS"].samples
    assert dict(alert.labels)["alertstate"] == "pending"
    plugin.on_snapshot(Snapshot(1002.0, host_families(cpu=0.9)))
    assert [e.status for e in sink.events] == ["firing"]
    counts = {
        dict(s.labels)["state"]: s.value
        for s in by_name(plugin.metrics())["aiops_agent_alerts"].samples
    }
    assert counts == {"pending": 0.0, "firing": 1.0}
    plugin.on_snapshot(Snapshot(1003.0, host_families(cpu=0.1)))
    assert [e.status for e in sink.events] == ["firing", "resolved"]


def test_notifications_off_still_evaluates(tmp_path: Path) -> None:
    rule = {"name": "Busy", "metric": "aiops_agent_cpu_utilization_ratio", "warning": 0.5}
    plugin, sink = make_plugin(
        tmp_path, {"alerting": {"enabled": False}, "detection": {"rules": [rule]}}
    )
    plugin.on_snapshot(Snapshot(1000.0, host_families(cpu=0.9)))
    assert sink.events == []
    assert len(by_name(plugin.metrics())["ALERTS"].samples) == 1


def test_reload_removes_a_rule_and_resolves_its_alert(tmp_path: Path) -> None:
    rule = {"name": "Busy", "metric": "aiops_agent_cpu_utilization_ratio", "warning": 0.5}
    plugin, sink = make_plugin(tmp_path, {"detection": {"rules": [rule]}})
    plugin.on_snapshot(Snapshot(1000.0, host_families(cpu=0.9)))
    plugin.reconfigure(config_from(tmp_path, {}))
    assert sink.reconfigured == 1
    plugin.on_snapshot(Snapshot(1001.0, host_families(cpu=0.9)))
    assert [e.status for e in sink.events] == ["firing", "resolved"]
    plugin.close(1.0)
    assert sink.closed


def test_config_silence_mutes_notifications(tmp_path: Path) -> None:
    rule = {"name": "Busy", "metric": "aiops_agent_cpu_utilization_ratio", "warning": 0.5}
    plugin, sink = make_plugin(
        tmp_path,
        {
            "detection": {"rules": [rule]},
            "alerting": {"silences": [{"matchers": ['alertname="Busy"'], "comment": "known"}]},
        },
    )
    plugin.on_snapshot(Snapshot(1000.0, host_families(cpu=0.9)))
    assert sink.events == []
    (alert,) = json.loads(call(plugin, "GET", "/api/v1/alerts")[1])["data"]["alerts"]
    assert alert["silencedBy"][0].startswith("config-")


def test_config_errors_name_the_rule(tmp_path: Path) -> None:
    from aiops_agent.config import ConfigError

    bad = {"detection": {"rules": [{"name": "R", "metric": "m", "warning": 1, "critical": 0}]}}
    with pytest.raises(ConfigError, match=r"detection\.rules\.0: rule R: critical must be above"):
        config_from(tmp_path, bad)
    with pytest.raises(ConfigError, match="did you mean 'for'"):
        config_from(tmp_path, {"detection": {"rules": [{"name": "R", "metric": "m", "fro": "5m"}]}})


def test_instance_label() -> None:
    from dataclasses import replace

    config = Config()
    named = replace(config, agent=replace(config.agent, hostname="web1"))
    assert alert_instance(named) == "web1:9877"
    listen = replace(named.http, listen=ListenAddress("10.0.0.5", 9100))
    assert alert_instance(replace(named, http=listen)) == "10.0.0.5:9100"


# --- HTTP handlers ------------------------------------------------------------------------------
def call(
    plugin: AlertingPlugin,
    method: str,
    path: str,
    body: Optional[dict[str, Any]] = None,
    query: str = "",
    headers: Optional[dict[str, str]] = None,
) -> tuple[int, bytes]:
    sent = {"content-type": "application/json", "host": "127.0.0.1:9877"}
    sent.update(headers or {})
    data = json.dumps(body).encode() if body is not None else b""
    response = plugin.routes()[path].handler(Request(method, path, query, sent, data))
    return response.status, response.body


SILENCE = {
    "matchers": [{"name": "alertname", "value": "Busy", "isRegex": False}],
    "endsAt": "2999-01-01T00:00:00Z",
    "createdBy": "test",
    "comment": "maintenance",
}


def test_silence_api_create_list_delete(tmp_path: Path) -> None:
    plugin, _ = make_plugin(tmp_path, {})
    status, body = call(plugin, "POST", "/api/v1/silences", SILENCE)
    assert status == 200, body
    silence_id = json.loads(body)["data"]["silenceId"]
    listed = json.loads(call(plugin, "GET", "/api/v1/silences")[1])["data"]
    assert [(s["id"], s["status"]["state"]) for s in listed] == [(silence_id, "active")]
    assert call(plugin, "DELETE", "/api/v1/silences", query=f"id={silence_id}")[0] == 200
    listed = json.loads(call(plugin, "GET", "/api/v1/silences")[1])["data"]
    assert listed[0]["status"]["state"] == "expired"
    assert call(plugin, "DELETE", "/api/v1/silences", query="id=nope")[0] == 404
    assert call(plugin, "DELETE", "/api/v1/silences")[0] == 400
    assert call(plugin, "PUT", "/api/v1/silences", SILENCE)[0] == 405
    assert call(plugin, "POST", "/api/v1/alerts", SILENCE)[0] == 405
    assert call(plugin, "POST", "/api/v1/silences", {**SILENCE, "endsAt": "yesterday"})[0] == 400


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"origin": "http://evil.example"}, 403),
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"host": "rebind.evil.example:9877"}, 403),
        ({"origin": "http://127.0.0.1:9877"}, 200),
        ({"host": "localhost:9877", "origin": "http://localhost:9877"}, 200),
        ({"host": "[::1]:9877"}, 200),
        ({"host": "H1:9877"}, 200),  # this host's configured name
        ({"content-type": "application/json; charset=utf-8"}, 200),
    ],
)
def test_mutating_requests_are_guarded(
    tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    plugin, _ = make_plugin(tmp_path, {})
    assert call(plugin, "POST", "/api/v1/silences", SILENCE, headers=headers)[0] == status


def test_silence_api_can_be_switched_off(tmp_path: Path) -> None:
    plugin, _ = make_plugin(tmp_path, {"alerting": {"silence_api": False}})
    assert call(plugin, "POST", "/api/v1/silences", SILENCE)[0] == 403
    assert call(plugin, "GET", "/api/v1/silences")[0] == 200


def test_api_silence_mutes_the_next_evaluation_and_survives_restart(tmp_path: Path) -> None:
    rule = {"name": "Busy", "metric": "aiops_agent_cpu_utilization_ratio", "warning": 0.5}
    plugin, sink = make_plugin(tmp_path, {"detection": {"rules": [rule]}})
    assert call(plugin, "POST", "/api/v1/silences", SILENCE)[0] == 200
    now = time.time()
    plugin.on_snapshot(Snapshot(now, host_families(cpu=0.9)))
    assert sink.events == []
    again, sink2 = make_plugin(tmp_path, {"detection": {"rules": [rule]}})
    again.on_snapshot(Snapshot(now + 1, host_families(cpu=0.9)))
    assert sink2.events == []
    (alert,) = json.loads(call(again, "GET", "/api/v1/alerts")[1])["data"]["alerts"]
    assert alert["state"] == "firing" and len(alert["silencedBy"]) == 1


def process(pid: int, name: str, cpu: float = 0.0, rss: int = 0) -> ProcessSummary:
    return ProcessSummary(pid, name, "alice", f"/bin/{name}", cpu, rss, 0, 0.0, 0.0, 3, 0, False)


def view_at(now: float) -> ProcessView:
    rankings = {
        "cpu": (process(10, "hog", cpu=1.9), process(11, "idle", cpu=0.1)),
        "memory": (process(20, "eater", rss=900 << 20),),
    }
    return ProcessView(now, 2, rankings)


def test_a_firing_alert_carries_the_top_processes_of_its_rules_context(tmp_path: Path) -> None:
    rules = [
        {"name": "Busy", "metric": "aiops_agent_cpu_utilization_ratio", "warning": 0.5,
         "context": "cpu"},
        {"name": "NoContext", "metric": "aiops_agent_cpu_utilization_ratio", "warning": 0.5},
    ]  # fmt: skip
    plugin, sink = make_plugin(tmp_path, {"detection": {"rules": rules}})
    plugin.on_snapshot(Snapshot(1000.0, host_families(cpu=0.9), view_at(1000.0)))
    events = {e.labels["alertname"]: e for e in sink.events}
    busy = events["Busy"]
    assert (busy.context, [p.pid for p in busy.processes]) == ("cpu", [10, 11])
    assert busy.annotations["top_processes"].startswith("pid 10 hog (alice): 1.90 CPU cores")
    assert (events["NoContext"].context, events["NoContext"].processes) == ("", ())
    assert "top_processes" not in events["NoContext"].annotations
    status, body = call(plugin, "GET", "/api/v1/alerts")
    assert status == 200
    shown = {a["labels"]["alertname"]: a for a in json.loads(body)["data"]["alerts"]}
    assert shown["Busy"]["context"] == "cpu"
    assert [p["name"] for p in shown["Busy"]["processes"]] == ["hog", "idle"]
    plugin.on_snapshot(Snapshot(1001.0, host_families(cpu=0.1), view_at(1001.0)))
    resolved = [e for e in sink.events if e.status == "resolved"]
    assert resolved and all(e.processes == () for e in resolved)


def test_the_union_of_several_alerts_processes_lists_each_pid_once() -> None:
    hog, idle, eater = process(10, "hog"), process(11, "idle"), process(20, "eater")
    assert union([(hog, idle), (eater, hog), ()]) == (hog, idle, eater)


def test_default_rules_name_their_resource_and_anomalies_follow_their_series() -> None:
    contexts = {rule.name: rule.context for rule in DEFAULT_RULES}
    assert contexts["HostCpuSaturation"] == "cpu"
    assert contexts["HostMemoryPressure"] == "memory"
    assert contexts["HostFilesystemFillingUp"] == "filesystem"
    assert contexts["HostAnomalousSeries"] == "series"
    assert resource_of_series("aiops_agent_memory_utilization_ratio") == "memory"
    assert resource_of_series("node_disk_written_bytes_total") == "io"
    assert resource_of_series("node_network_receive_bytes_total") == ""


def test_an_anomaly_alert_carries_the_processes_of_its_series_resource(tmp_path: Path) -> None:
    rule = {"name": "Odd", "metric": "aiops_agent_anomaly_score", "warning": 0.5,
            "context": "series"}  # fmt: skip
    # Baselines off: the score family is this test's, not the detector's.
    detection = {"rules": [rule], "baselines": {"enabled": False}}
    plugin, sink = make_plugin(tmp_path, {"detection": detection})
    score = MetricFamily(
        "aiops_agent_anomaly_score",
        "gauge",
        "",
        [Sample((("series", "aiops_agent_memory_utilization_ratio"),), 0.99)],
    )
    plugin.on_snapshot(Snapshot(1000.0, [*host_families(cpu=0.1), score], view_at(1000.0)))
    (odd,) = [e for e in sink.events if e.labels["alertname"] == "Odd"]
    assert (odd.context, [p.name for p in odd.processes]) == ("memory", ["eater"])


def network(t: float, eth0_received: float) -> list[MetricFamily]:
    """eth0, a 1 Gb/s link, having received eth0_received bytes and sending 10 MB/s; ens3
    (virtio, no known speed: -1) receiving 1 GB/s. Counters as they stand at time t (from 0)."""
    eth0, ens3 = (("device", "eth0"),), (("device", "ens3"),)
    return [
        gauge("node_network_speed_bytes", "", [Sample(eth0, 125e6), Sample(ens3, -1.0)]),
        counter(
            "node_network_receive_bytes_total",
            "",
            [Sample(eth0, eth0_received), Sample(ens3, 1e9 * t)],
        ),
        counter("node_network_transmit_bytes_total", "", [Sample(eth0, 10e6 * t)]),
    ]


def test_default_network_saturation_fires_per_link_and_direction(tmp_path: Path) -> None:
    """HostNetworkSaturation with its defaults (80 % of the link for 5 minutes, clears under
    70 %): eth0's receive side at 96 % fires after `for`, stays firing at 76 %, resolves at 40 %;
    its transmit side (8 %) and an interface without a known speed never alert."""
    plugin, sink = make_plugin(tmp_path, {})
    rates = [120e6] * 30 + [95e6] * 10 + [50e6] * 5  # bytes/s, one collection every 15 s
    received = 0.0
    fired_at = resolved_at = None
    for step, rate in enumerate(rates):
        received += rate * 15
        t = 15.0 * step
        plugin.on_snapshot(Snapshot(1000.0 + t, network(t, received)))
        for event in sink.events:
            assert event.labels["alertname"] == "HostNetworkSaturation"
            assert (event.labels["device"], event.labels["direction"]) == ("eth0", "receive")
            if event.status == "firing" and fired_at is None:
                fired_at = step
                assert (
                    "eth0 on h1: receive at 96.0% of its link speed"
                    in (event.annotations["summary"])
                )
            if event.status == "resolved":
                resolved_at = step
        sink.events.clear()
    # The first rate comes with the second sample (step 1); 300 s later is step 21.
    assert fired_at == 21
    assert resolved_at == 40, "held through 76 % by the clear level, resolved at 40 %"
    ratios = by_name(plugin.metrics())["aiops_agent_network_utilization_ratio"].samples
    assert {dict(s.labels)["direction"]: s.value for s in ratios} == {
        "receive": pytest.approx(0.4),
        "transmit": pytest.approx(0.08),
    }
