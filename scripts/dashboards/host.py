"""One host: its node_* series in a compact form, its alerts, its anomaly scores, and its process
groups."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .common import HOST, base, graph, listing, query, row, single

UID = "aiops-agent-host"
RATE = "$__rate_interval"


def build() -> dashboard.Dashboard:
    return (
        base(
            "aiops-agent / Host",
            UID,
            "One host as aiops-agent sees it: CPU, memory, disks and network (node_exporter's "
            "names), its alerts and anomaly scores, its process groups.",
            per_host=True,
        )
        .with_row(
            row(
                "Overview",
                [
                    single("Up", "1 when the last scrape succeeded.", f"up{{{HOST}}}"),
                    single(
                        "Uptime",
                        "Seconds since the host booted.",
                        f"aiops_agent_host_uptime_seconds{{{HOST}}}",
                        unit="s",
                    ),
                    single(
                        "CPU busy",
                        "Fraction of CPU time busy (not idle or iowait) at the last collection.",
                        f"aiops_agent_cpu_utilization_ratio{{{HOST}}}",
                        unit="percentunit",
                        red_above=0.9,
                    ),
                    single(
                        "Memory used",
                        "1 - MemAvailable / MemTotal.",
                        f"aiops_agent_memory_utilization_ratio{{{HOST}}}",
                        unit="percentunit",
                        red_above=0.9,
                    ),
                    single(
                        "Load per CPU",
                        "1-minute load average divided by the online CPUs.",
                        f"aiops_agent_load1_per_cpu{{{HOST}}}",
                        red_above=2,
                    ),
                    single(
                        "Alerts firing",
                        "This host's firing alerts.",
                        f'aiops_agent_alerts{{{HOST}, state="firing"}}',
                        red_above=1,
                    ),
                ],
            )
        )
        .with_row(
            row(
                "System",
                [
                    graph(
                        "CPU by mode",
                        "CPU seconds per second by mode, all CPUs together, idle left out.",
                        [
                            query(
                                f"sum by (mode) (rate(node_cpu_seconds_total"
                                f'{{{HOST}, mode!="idle"}}[{RATE}]))',
                                "{{mode}}",
                            )
                        ],
                    ),
                    graph(
                        "Memory",
                        "Total, available and used (total - available) memory.",
                        [
                            query(f"node_memory_MemTotal_bytes{{{HOST}}}", "total"),
                            query(f"node_memory_MemAvailable_bytes{{{HOST}}}", "available"),
                            query(
                                f"node_memory_MemTotal_bytes{{{HOST}}}"
                                f" - node_memory_MemAvailable_bytes{{{HOST}}}",
                                "used",
                            ),
                        ],
                        unit="bytes",
                    ),
                    graph(
                        "Load",
                        "Load averages over 1, 5 and 15 minutes.",
                        [
                            query(f"node_load1{{{HOST}}}", "1m"),
                            query(f"node_load5{{{HOST}}}", "5m"),
                            query(f"node_load15{{{HOST}}}", "15m"),
                        ],
                    ),
                    graph(
                        "File system space used",
                        "Fraction of each file system in use, as df computes it.",
                        [query(f"aiops_agent_filesystem_used_ratio{{{HOST}}}", "{{mountpoint}}")],
                        unit="percentunit",
                        max_value=1,
                    ),
                    graph(
                        "Disk I/O",
                        "Bytes read (positive) and written (negative) per second, per disk.",
                        [
                            query(
                                f"rate(node_disk_read_bytes_total{{{HOST}}}[{RATE}])",
                                "{{device}} read",
                            ),
                            query(
                                f"-rate(node_disk_written_bytes_total{{{HOST}}}[{RATE}])",
                                "{{device}} written",
                            ),
                        ],
                        unit="Bps",
                    ),
                    graph(
                        "Network",
                        "Bytes received (positive) and sent (negative) per second, per interface.",
                        [
                            query(
                                f"rate(node_network_receive_bytes_total{{{HOST}}}[{RATE}])",
                                "{{device}} in",
                            ),
                            query(
                                f"-rate(node_network_transmit_bytes_total{{{HOST}}}[{RATE}])",
                                "{{device}} out",
                            ),
                        ],
                        unit="Bps",
                    ),
                ],
            )
        )
        .with_row(
            row(
                "Alerts and anomalies",
                [
                    listing(
                        "Active alerts",
                        "This host's pending and firing alerts, from the agent's ALERTS series.",
                        f"ALERTS{{{HOST}}}",
                        width=24,
                        incident_only=True,
                    ),
                    graph(
                        "Anomaly scores",
                        "Each baselined series' score in [0, 1] against its learned baseline, "
                        "held while the series stays outside its typical range; "
                        "HostAnomalousSeries (off by default) warns when a score above 0.3 "
                        "holds for 5 minutes. Empty during the warm-up "
                        "(detection.baselines.warmup samples).",
                        [query(f"aiops_agent_anomaly_score{{{HOST}}}", "{{series}} {{device}}")],
                        max_value=1,
                    ),
                    graph(
                        "CPU busy against its typical range",
                        "CPU busy with the range it kept over the last hour (mean ± 2 standard "
                        "deviations, computed by Prometheus; the agent's learned baseline itself "
                        "is not exported, only its score).",
                        [
                            query(f"aiops_agent_cpu_utilization_ratio{{{HOST}}}", "busy"),
                            query(
                                f"avg_over_time(aiops_agent_cpu_utilization_ratio{{{HOST}}}[1h])"
                                " + 2 * stddev_over_time("
                                f"aiops_agent_cpu_utilization_ratio{{{HOST}}}[1h])",
                                "typical high",
                            ),
                            query(
                                f"avg_over_time(aiops_agent_cpu_utilization_ratio{{{HOST}}}[1h])"
                                " - 2 * stddev_over_time("
                                f"aiops_agent_cpu_utilization_ratio{{{HOST}}}[1h])",
                                "typical low",
                            ),
                        ],
                        unit="percentunit",
                    ),
                ],
            )
        )
        .with_row(
            row(
                "Processes",
                [
                    graph(
                        "Process groups: memory",
                        "Resident memory of each named group of processes "
                        "(collectors.process_groups.process_names; empty until groups are "
                        "configured).",
                        [
                            query(
                                'namedprocess_namegroup_memory_bytes{memtype="resident", '
                                + HOST
                                + "}",
                                "{{groupname}}",
                            )
                        ],
                        unit="bytes",
                    ),
                    graph(
                        "Process groups: processes",
                        "Processes in each named group; 0 when a group's processes are gone.",
                        [query(f"namedprocess_namegroup_num_procs{{{HOST}}}", "{{groupname}}")],
                    ),
                ],
            )
        )
    )
