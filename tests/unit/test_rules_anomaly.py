"""Learned baselines in the plugin's pipeline: series selection (counters by their rate), the
cap, warm-up, the exported aiops_agent_anomaly_score series, a rule on scores, and persistence."""

from __future__ import annotations

import random
from pathlib import Path

from aiops_agent.alerting.lifecycle import Lifecycle
from aiops_agent.base.matchers import parse_matcher, parse_selector
from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.config.alerting_schema import ANOMALY_SCORE, BaselineSettings, RuleSettings
from aiops_agent.detection.anomaly_scores import FILE_NAME, AnomalyScorer
from aiops_agent.detection.rates import RateTracker
from aiops_agent.detection.rules import Rule, RuleEvaluator

CPU = parse_selector("aiops_agent_cpu_utilization_ratio")

ETH0 = (("device", "eth0"),)


def snapshot(cpu: float, rx_total: float, extra_devices: int = 0) -> list[MetricFamily]:
    rx = [Sample(ETH0, rx_total)] + [
        Sample((("device", f"veth{i}"),), rx_total) for i in range(extra_devices)
    ]
    return [
        gauge("aiops_agent_cpu_utilization_ratio", "", [Sample((), cpu)]),
        counter("node_network_receive_bytes_total", "", rx),
        gauge("node_load1", "", [Sample((), 1.0)]),  # not selected
    ]


def run(
    baselines: AnomalyScorer, families: list[MetricFamily], now: float
) -> dict[tuple[tuple[str, str], ...], float]:
    index = {f.name: f for f in families}
    scores = baselines.update(index, families, now)
    assert scores.name == ANOMALY_SCORE
    return {s.labels: s.value for s in scores.samples}


def test_selected_series_are_scored_after_warmup_and_counters_by_rate() -> None:
    settings = BaselineSettings(
        series=[
            parse_selector("aiops_agent_cpu_utilization_ratio"),
            parse_selector('node_network_receive_bytes_total{device="eth0"}'),
        ],
        warmup=20,
    )
    baselines = AnomalyScorer(settings, True, RateTracker())
    rng = random.Random(1)
    total = 0.0
    scores = {}
    for i in range(60):
        total += 1000.0 + rng.gauss(0, 10)  # a steady 1000 B/s: the raw counter only grows
        scores = run(baselines, snapshot(0.3 + rng.gauss(0, 0.01), total), float(i))
        if i < 19:  # the CPU detector has seen 20 samples at i = 19
            assert scores == {}, "no scores during the warm-up"
    assert set(scores) == {
        (("series", "aiops_agent_cpu_utilization_ratio"),),
        (("series", "node_network_receive_bytes_total"), ("device", "eth0")),
    }
    # The counter's ever-growing raw value would look novel every sample; its rate does not.
    assert scores[(("series", "node_network_receive_bytes_total"), ("device", "eth0"))] < 0.5
    # A counter reset (reboot, driver reload) is a plunge of the raw value but a normal rate.
    after_reset = run(baselines, snapshot(0.3, 1000.0), 60.0)
    assert after_reset[(("series", "node_network_receive_bytes_total"), ("device", "eth0"))] < 0.5
    burst = run(baselines, snapshot(0.3, 1000.0 + 50_000.0), 61.0)  # a burst of traffic
    assert burst[(("series", "node_network_receive_bytes_total"), ("device", "eth0"))] > 0.9


def test_cap_limits_baselined_series() -> None:
    settings = BaselineSettings(
        series=[parse_selector("node_network_receive_bytes_total")], max_series=3, warmup=1
    )
    baselines = AnomalyScorer(settings, True, RateTracker())
    run(baselines, snapshot(0.3, 100.0, extra_devices=5), 0.0)
    assert len(baselines) == 3 and baselines.refused == 3
    metrics = {f.name: f.samples[0].value for f in baselines.metrics()}
    assert metrics == {
        "aiops_agent_baseline_series": 3.0,
        "aiops_agent_baseline_series_refused": 3.0,
    }


def test_rule_on_anomaly_scores_fires_and_holds_by_its_clear_level() -> None:
    settings = BaselineSettings(series=[CPU], warmup=100)
    baselines = AnomalyScorer(settings, True, RateTracker())
    rule = Rule(
        RuleSettings(
            name="Anomalous",
            metric=ANOMALY_SCORE,
            matchers=[parse_matcher('series="aiops_agent_cpu_utilization_ratio"')],
            warning=0.9,
            warning_clear=0.3,
        )
    )
    evaluator = RuleEvaluator(RateTracker())
    lifecycle = Lifecycle("h", "h:1", 1e9, 1e9, 100)
    rng = random.Random(2)
    events = []
    for i in range(300):
        cpu = 0.3 + rng.gauss(0, 0.01) if i < 150 else 0.95  # a sudden, lasting jump
        families = snapshot(cpu, 0.0)
        index = {f.name: f for f in families}
        index[ANOMALY_SCORE] = baselines.update(index, families, float(i))
        lifecycle.evaluate(rule, evaluator.values(rule, index, float(i)), float(i))
        events += [(i, e.status) for e in lifecycle.finish(float(i), [rule.name])]
    assert events, "the jump never fired"
    # fires at the jump; the clear level keeps it open while the detector is still surprised,
    # and it resolves once the new level has become the baseline
    (fired_at, first), (resolved_at, second) = events
    assert (fired_at, first, second) == (150, "firing", "resolved")
    assert 170 < resolved_at < 300


def test_learned_state_survives_a_restart(tmp_path: Path) -> None:
    settings = BaselineSettings(series=[CPU], warmup=10)
    baselines = AnomalyScorer(settings, True, RateTracker(), str(tmp_path))
    for i in range(15):
        run(baselines, snapshot(0.3, 0.0), float(i))
    baselines.save()
    assert (tmp_path / FILE_NAME).exists()
    restored = AnomalyScorer(settings, True, RateTracker(), str(tmp_path))
    assert len(restored) == 1
    # past its warm-up already: the first sample after the restart is scored
    assert run(restored, snapshot(0.3, 0.0), 16.0) != {}
    (tmp_path / FILE_NAME).write_text("garbage", encoding="utf-8")
    assert len(AnomalyScorer(settings, True, RateTracker(), str(tmp_path))) == 0
