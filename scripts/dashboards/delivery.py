"""Delivery (the outbox and each receiver) and the agent's own health (collectors, cycles,
reloads, state directory)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .common import HOST, base, graph, query, row, single

UID = "aiops-agent-delivery"
RATE = "$__rate_interval"


def _per_receiver(expr: str) -> str:
    return f"sum by (receiver) ({expr})"


def build() -> dashboard.Dashboard:
    return (
        base(
            "aiops-agent / Delivery and self-health",
            UID,
            "How the agent's notifications get out (outbox, attempts, failures, dead letters, "
            "latency per receiver) and how the agent itself is doing.",
            per_host=True,
        )
        .with_row(
            row(
                "Delivery",
                [
                    graph(
                        "Outbox depth",
                        "Notifications waiting for delivery, per receiver.",
                        [
                            query(
                                _per_receiver(f"aiops_agent_outbox_queue_depth{{{HOST}}}"),
                                "{{receiver}}",
                            )
                        ],
                        width=8,
                    ),
                    graph(
                        "Attempts and deliveries",
                        "Delivery attempts (retries included) and notifications accepted, per "
                        "second.",
                        [
                            query(
                                _per_receiver(
                                    "rate(aiops_agent_notifications_attempts_total"
                                    f"{{{HOST}}}[{RATE}])"
                                ),
                                "{{receiver}} attempts",
                            ),
                            query(
                                _per_receiver(
                                    f"rate(aiops_agent_notifications_sent_total{{{HOST}}}[{RATE}])"
                                ),
                                "{{receiver}} sent",
                            ),
                        ],
                        unit="ops",
                        width=8,
                    ),
                    graph(
                        "Failed attempts",
                        "Failed attempts per second by receiver and kind: retry (tried again "
                        "later), dead (rejected for good), resend.",
                        [
                            query(
                                "sum by (receiver, kind) (rate("
                                f"aiops_agent_notifications_failures_total{{{HOST}}}[{RATE}]))",
                                "{{receiver}} {{kind}}",
                            )
                        ],
                        unit="ops",
                        width=8,
                        incident_only=True,
                    ),
                    graph(
                        "Dead letters",
                        "Notifications a receiver rejected for good (kept aside in the state "
                        "directory, not retried), in total.",
                        [
                            query(
                                _per_receiver(
                                    f"aiops_agent_notifications_dead_letters_total{{{HOST}}}"
                                ),
                                "{{receiver}}",
                            )
                        ],
                        width=8,
                    ),
                    graph(
                        "Delivery latency (p90)",
                        "90th percentile of the time from an alert event to its delivery, per "
                        "receiver, over the rate window; needs deliveries in the window.",
                        [
                            query(
                                "histogram_quantile(0.9, sum by (receiver, le) (rate("
                                "aiops_agent_notifications_delivery_latency_seconds_bucket"
                                f"{{{HOST}}}[{RATE}])))",
                                "{{receiver}}",
                            )
                        ],
                        unit="s",
                        width=8,
                        incident_only=True,
                    ),
                    graph(
                        "Notification groups",
                        "Groups each receiver keeps (waiting, or notified with alerts firing), and "
                        "alerts put in an overflow group per second (grouping.max_groups reached).",
                        [
                            query(
                                _per_receiver(f"aiops_agent_notification_groups{{{HOST}}}"),
                                "{{receiver}} groups",
                            ),
                            query(
                                _per_receiver(
                                    "rate(aiops_agent_notification_groups_overflowed_total"
                                    f"{{{HOST}}}[{RATE}])"
                                ),
                                "{{receiver}} overflowed/s",
                            ),
                        ],
                        width=8,
                    ),
                    graph(
                        "Outbox health",
                        "1 while a receiver's outbox accepts writes (0: notifications wait in "
                        "memory); writes that failed and notifications dropped, in total.",
                        [
                            query(
                                _per_receiver(f"aiops_agent_outbox_durable{{{HOST}}}"),
                                "{{receiver}} durable",
                            ),
                            query(
                                _per_receiver(f"aiops_agent_outbox_write_errors_total{{{HOST}}}"),
                                "{{receiver}} write errors",
                            ),
                        ],
                        width=8,
                    ),
                ],
            )
        )
        .with_row(
            row(
                "Self-health",
                [
                    single(
                        "Last reload",
                        "1 if the latest configuration reload succeeded, 0 if it was rejected.",
                        f"aiops_agent_config_last_reload_successful{{{HOST}}}",
                    ),
                    single(
                        "State directory writable",
                        "0: the outbox and silences are degraded.",
                        f"aiops_agent_state_dir_writable{{{HOST}}}",
                    ),
                    single(
                        "Plugins down",
                        "Plugins (alerting) that failed to load.",
                        f"count(aiops_agent_plugin_up{{{HOST}}} == 0) or vector(0)",
                        red_above=1,
                    ),
                    single(
                        "Collectors failing",
                        "Collectors whose latest run failed.",
                        f"count(aiops_agent_collector_success{{{HOST}}} == 0) or vector(0)",
                        red_above=1,
                    ),
                    single(
                        "Exposed to the network",
                        "1 when the endpoints listen on a non-loopback address (its labels say "
                        "whether TLS and authentication guard it), 0 on loopback.",
                        f"aiops_agent_http_exposed{{{HOST}}}",
                    ),
                    single(
                        "Resident memory",
                        "The agent process' RSS.",
                        f"process_resident_memory_bytes{{{HOST}}}"
                        f" and on (job, instance) aiops_agent_build_info{{{HOST}}}",
                        unit="bytes",
                    ),
                    single(
                        "Since last reload",
                        "Time since the configuration was last loaded successfully.",
                        f"time() - aiops_agent_config_last_reload_success_timestamp_seconds"
                        f"{{{HOST}}}",
                        unit="s",
                    ),
                    graph(
                        "Collector durations",
                        "Seconds each collector took in the latest collection.",
                        [
                            query(
                                f"aiops_agent_collector_duration_seconds{{{HOST}}}",
                                "{{collector}}",
                            )
                        ],
                        unit="s",
                        width=8,
                    ),
                    graph(
                        "Collector errors",
                        "Collector runs that raised an error, per second.",
                        [
                            query(
                                "sum by (collector) (rate("
                                f"aiops_agent_collector_errors_total{{{HOST}}}[{RATE}]))",
                                "{{collector}}",
                            )
                        ],
                        unit="ops",
                        width=8,
                    ),
                    graph(
                        "Collection cycle",
                        "Seconds the latest cycle took (plugins included) against the "
                        "interval; skipped slots per second.",
                        [
                            query(f"aiops_agent_collection_duration_seconds{{{HOST}}}", "cycle"),
                            query(f"aiops_agent_collection_interval_seconds{{{HOST}}}", "interval"),
                            query(
                                f"rate(aiops_agent_collection_overruns_total{{{HOST}}}[{RATE}])",
                                "overruns/s",
                            ),
                            query(
                                f"aiops_agent_alerting_evaluation_seconds{{{HOST}}}",
                                "rules and baselines",
                            ),
                        ],
                        unit="s",
                        width=8,
                    ),
                ],
            )
        )
    )
