"""Fleet overview: which agents are up, what is firing where, and the hosts that stand out."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .common import JOB, base, graph, listing, query, row, single

UID = "aiops-agent-fleet"


def build() -> dashboard.Dashboard:
    return (
        base(
            "aiops-agent / Fleet",
            UID,
            "Every host running aiops-agent: agents up, alerts by severity, top anomaly scores "
            "and the busiest hosts.",
            per_host=False,
        )
        .with_row(
            row(
                "Fleet",
                [
                    single(
                        "Agents up",
                        "Scrape targets of the selected jobs that answered the last scrape.",
                        f"sum(up{{{JOB}}})",
                    ),
                    single(
                        "Agents down",
                        "Scrape targets of the selected jobs that did not answer the last scrape.",
                        f"count(up{{{JOB}}} == 0) or vector(0)",
                        red_above=1,
                    ),
                    single(
                        "Alerts firing",
                        "Alerts the agents have firing (aiops_agent_alerts), silenced ones "
                        "included.",
                        f'sum(aiops_agent_alerts{{{JOB}, state="firing"}})',
                        red_above=1,
                    ),
                    single(
                        "Alerts pending",
                        "Alerts waiting out their `for` duration.",
                        f'sum(aiops_agent_alerts{{{JOB}, state="pending"}})',
                    ),
                    single(
                        "Undelivered notifications",
                        "Notifications waiting in the agents' outboxes, all receivers.",
                        f"sum(aiops_agent_outbox_queue_depth{{{JOB}}})",
                        red_above=1,
                    ),
                    single(
                        "Agents exposed without TLS",
                        "Agents listening on a network address without TLS "
                        "(aiops_agent_http_exposed; docs/security.md).",
                        f'count(aiops_agent_http_exposed{{{JOB}, tls="false"}} == 1) or vector(0)',
                        red_above=1,
                    ),
                    single(
                        "Collector errors (1h)",
                        "Collector runs that raised an error in the last hour, all agents.",
                        f"sum(increase(aiops_agent_collector_errors_total{{{JOB}}}[1h]))",
                        red_above=1,
                    ),
                ],
            )
        )
        .with_row(
            row(
                "Alerts",
                [
                    graph(
                        "Firing alerts by severity",
                        "The agents' firing alerts (their ALERTS series), counted by severity.",
                        [
                            query(
                                f'count by (severity) (ALERTS{{{JOB}, alertstate="firing"}})',
                                "{{severity}}",
                            )
                        ],
                        incident_only=True,
                    ),
                    listing(
                        "Firing alerts",
                        "One row per firing alert: name, severity, host.",
                        f'ALERTS{{{JOB}, alertstate="firing"}}',
                        incident_only=True,
                    ),
                ],
            )
        )
        .with_row(
            row(
                "Hosts that stand out",
                [
                    listing(
                        "Top anomaly scores",
                        "The ten highest anomaly scores in [0, 1] (1: unlike anything the "
                        "baseline learned); a baseline scores only after its warm-up "
                        "(detection.baselines.warmup samples).",
                        f"topk(10, aiops_agent_anomaly_score{{{JOB}}})",
                    ),
                    graph(
                        "Busiest CPUs",
                        "The five hosts whose CPUs were busiest (not idle or iowait).",
                        [
                            query(
                                f"topk(5, aiops_agent_cpu_utilization_ratio{{{JOB}}})",
                                "{{instance}}",
                            )
                        ],
                        unit="percentunit",
                        max_value=1,
                    ),
                    graph(
                        "Most memory used",
                        "The five hosts with the least memory available for new work.",
                        [
                            query(
                                f"topk(5, aiops_agent_memory_utilization_ratio{{{JOB}}})",
                                "{{instance}}",
                            )
                        ],
                        unit="percentunit",
                        max_value=1,
                    ),
                    graph(
                        "Fullest file systems",
                        "The five fullest file systems of the fleet, as df computes it.",
                        [
                            query(
                                f"topk(5, aiops_agent_filesystem_used_ratio{{{JOB}}})",
                                "{{instance}} {{mountpoint}}",
                            )
                        ],
                        unit="percentunit",
                        max_value=1,
                    ),
                    listing(
                        "Agent versions",
                        "Each agent's version and Python version.",
                        f"aiops_agent_build_info{{{JOB}}}",
                        width=24,
                    ),
                ],
            )
        )
    )
