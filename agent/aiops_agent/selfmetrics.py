"""The agent's own figures on /metrics: the collection loop's (LoopStats: collectors, cycles,
reloads, and node_exporter's per-collector node_scrape_collector_* series), and the process'
cost and identity, the process_* series Prometheus' client libraries export (Go's client_golang
1.20 set, which node_exporter 1.9 serves)."""

from __future__ import annotations

import os
import resource
import sys
import time

from aiops_agent import __version__
from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.collectors import CollectorStats
from aiops_agent.webconfig import AUTH_RESULTS, Exposure, WebSecurity

_PAGE_SIZE = resource.getpagesize()
_PYTHON_VERSION = ".".join(str(part) for part in sys.version_info[:3])
_TICKS = float(os.sysconf("SC_CLK_TCK"))


class ProcessMetrics:
    """Reads /proc/self like prometheus_client's ProcessCollector: one stat read per call."""

    def __init__(self) -> None:
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime"))
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        self._start_time = boot + int(fields[19]) / _TICKS
        self._max_fds = float(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        address_space = resource.getrlimit(resource.RLIMIT_AS)[0]
        # Unlimited is reported as the largest 64-bit value, as client_golang does.
        self._max_virtual = float(
            2**64 - 1 if address_space == resource.RLIM_INFINITY else address_space
        )

    def collect(self) -> list[MetricFamily]:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        return [
            counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                [Sample((), cpu)],
            ),
            gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                [Sample((), float(fields[20]))],
            ),
            gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                [Sample((), float(int(fields[21]) * _PAGE_SIZE))],
            ),
            gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                [Sample((), self._start_time)],
            ),
            gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                [Sample((), float(len(os.listdir("/proc/self/fd"))))],
            ),
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                [Sample((), self._max_fds)],
            ),
            gauge(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                [Sample((), self._max_virtual)],
            ),
            *_network_families(),
        ]


def _network_families() -> list[MetricFamily]:
    """Bytes in and out of the process' network namespace (IpExt of /proc/self/net/netstat),
    which is what client_golang reports as the process' network traffic."""
    try:
        with open("/proc/self/net/netstat", encoding="ascii") as handle:
            lines = [line.split() for line in handle if line.startswith("IpExt:")]
    except OSError:
        return []
    if len(lines) != 2:
        return []
    values = dict(zip(lines[0][1:], lines[1][1:]))
    if "InOctets" not in values or "OutOctets" not in values:
        return []
    return [
        counter(
            "process_network_receive_bytes_total",
            "Number of bytes received by the process over the network.",
            [Sample((), float(values["InOctets"]))],
        ),
        counter(
            "process_network_transmit_bytes_total",
            "Number of bytes sent by the process over the network.",
            [Sample((), float(values["OutOctets"]))],
        ),
    ]


def scrape_collector_families(
    durations: dict[str, float], successes: dict[str, float]
) -> list[MetricFamily]:
    """node_exporter's node_scrape_collector_{duration_seconds,success}{collector}, which its
    dashboards and alert rules read, from the agent's own per-collector statistics."""
    names = sorted(durations)
    return [
        gauge(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
            [Sample((("collector", name),), durations[name]) for name in names],
        ),
        gauge(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
            [Sample((("collector", name),), successes[name]) for name in names],
        ),
    ]


def build_info() -> MetricFamily:
    return gauge(
        "aiops_agent_build_info",
        "A metric with a constant '1' value labeled by the agent's version and Python's.",
        [Sample((("version", __version__), ("pythonversion", _PYTHON_VERSION)), 1.0)],
    )


class LoopStats:
    """What the collection loop did, kept by the loop and rendered after each cycle."""

    def __init__(self) -> None:
        self.collectors: dict[str, CollectorStats] = {}
        self.cycle_seconds = 0.0
        self.collections = 0
        self.overruns = 0
        self.last_collection_wall = 0.0
        self.reload_ok = 1.0
        self.reload_wall = time.time()

    def scrape_collector_families(self) -> list[MetricFamily]:
        return scrape_collector_families(
            {name: stats.duration for name, stats in self.collectors.items()},
            {name: stats.success for name, stats in self.collectors.items()},
        )

    def families(self, interval: float) -> list[MetricFamily]:
        names = sorted(self.collectors)
        stats = self.collectors
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
                [Sample((), self.cycle_seconds)],
            ),
            counter(
                "aiops_agent_collections_total",
                "Collection cycles completed.",
                [Sample((), float(self.collections))],
            ),
            counter(
                "aiops_agent_collection_overruns_total",
                "Collection slots skipped because a cycle took longer than the interval.",
                [Sample((), float(self.overruns))],
            ),
            gauge(
                "aiops_agent_last_collection_timestamp_seconds",
                "Unix time of the latest completed collection.",
                [Sample((), self.last_collection_wall)],
            ),
            gauge(
                "aiops_agent_collection_interval_seconds",
                "Configured collection interval.",
                [Sample((), float(interval))],
            ),
            gauge(
                "aiops_agent_config_last_reload_successful",
                "1 if the latest configuration reload succeeded, 0 if it was rejected or a plugin "
                "could not apply it.",
                [Sample((), self.reload_ok)],
            ),
            gauge(
                "aiops_agent_config_last_reload_success_timestamp_seconds",
                "Unix time of the latest successful configuration load.",
                [Sample((), self.reload_wall)],
            ),
        ]


def basic_auth_families(web: WebSecurity) -> list[MetricFamily]:
    """The basic-auth checks' results, while basic auth is on."""
    if web.auth is None:
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


def exposure_family(exposure: Exposure) -> MetricFamily:
    """1 while the endpoints listen on an address other hosts can reach, with what guards them,
    so a fleet can alert on a host exposed without TLS or open to unauthenticated writes."""
    labels = (
        ("tls", str(exposure.tls).lower()),
        ("auth", exposure.auth),
        ("unauthenticated_writes", str(exposure.unauthenticated_writes).lower()),
    )
    return gauge(
        "aiops_agent_http_exposed",
        "1 when the HTTP endpoints listen on a non-loopback address, 0 on loopback; tls, the "
        "auth every request must present (none, basic, client_cert, basic+client_cert) and "
        "whether writes are served to unauthenticated callers from the network "
        "(http.insecure_unauthenticated_writes).",
        [Sample(labels, float(exposure.exposed))],
    )
