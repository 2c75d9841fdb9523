"""A real Prometheus scrapes a real agent: the target goes up, host series and the agent's own
metrics come back through Prometheus' HTTP API, and rate() over a counter works (so the counter is
exposed as one: monotonic, with a stable label set).

Fleet hook: when AIOPS_FLEET_SD_FILE names a Prometheus file_sd file (JSON or YAML, a list of
{"targets": ["HOST:PORT", ...], "labels": {...}}) — the kind scripts/fleet.sh can write for the
agents it started — the same Prometheus also scrapes those targets as job "fleet", and every one
of them must be up and expose node_load1. Unset, only the local agent is scraped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.agentproc import running_agent
from tests.helpers.prometheus import Prometheus, running_prometheus

pytestmark = pytest.mark.integration

FLEET_SD_FILE = os.environ.get("AIOPS_FLEET_SD_FILE", "")


def _single(values: dict[tuple[tuple[str, str], ...], float], expr: str) -> float:
    assert len(values) == 1, f"{expr}: expected one series, got {values}"
    return next(iter(values.values()))


def test_prometheus_scrapes_the_agent() -> None:
    with running_agent({"agent": {"interval": "1s"}}) as agent:
        jobs = [
            {
                "job_name": "aiops-agent",
                "static_configs": [{"targets": [f"127.0.0.1:{agent.port}"]}],
            }
        ]
        if FLEET_SD_FILE:
            jobs.append({"job_name": "fleet", "file_sd_configs": [{"files": [FLEET_SD_FILE]}]})
        with running_prometheus(jobs, scrape_interval="2s") as prom:
            prom.wait_for('up{job="aiops-agent"} == 1')
            # rate() needs two samples of the counter in the window.
            rates = prom.wait_for(
                'rate(node_cpu_seconds_total{job="aiops-agent"}[10s])', timeout=30
            )
            modes = {item["metric"]["mode"] for item in rates}
            assert {"user", "system", "idle"} <= modes, modes
            busy = prom.values(
                'sum(rate(node_cpu_seconds_total{job="aiops-agent",mode!="idle"}[10s]))'
            )
            cpus = os.cpu_count() or 1
            assert 0 <= _single(busy, "busy") <= cpus * 1.05

            load1 = _single(prom.values('node_load1{job="aiops-agent"}'), "node_load1")
            assert load1 == pytest.approx(os.getloadavg()[0], abs=max(2.0, cpus * 0.5))

            avail = prom.values('node_filesystem_avail_bytes{job="aiops-agent",mountpoint="/"}')
            real = os.statvfs("/")
            assert _single(avail, "avail /") == pytest.approx(
                real.f_bavail * real.f_frsize, abs=256 * 1024 * 1024
            )

            build = prom.query('aiops_agent_build_info{job="aiops-agent"}')
            assert len(build) == 1 and build[0]["metric"]["version"], build
            success = prom.values('aiops_agent_collector_success{job="aiops-agent"}')
            by_collector = {dict(labels)["collector"]: value for labels, value in success.items()}
            for name in ("cpu", "loadavg", "meminfo", "filesystem", "netdev"):
                assert by_collector.get(name) == 1.0, by_collector
            prom.wait_for('increase(aiops_agent_collections_total{job="aiops-agent"}[10s]) > 0')
            samples_scraped = _single(
                prom.values('scrape_samples_scraped{job="aiops-agent"}'), "samples"
            )
            duration = _single(
                prom.values('scrape_duration_seconds{job="aiops-agent"}'), "duration"
            )
            print(f"\nprometheus scrape: {samples_scraped:.0f} samples in {duration * 1000:.1f} ms")
            # Every scrape so far succeeded within Prometheus' own scrape timeout (up stayed 1),
            # and each one brought the whole page, not a truncated one.
            lowest_up = prom.values('min_over_time(up{job="aiops-agent"}[5m])')
            assert list(lowest_up.values()) == [1.0], lowest_up
            page = [line for line in agent.metrics().splitlines() if not line.startswith("#")]
            assert samples_scraped >= 0.9 * len(page), (samples_scraped, len(page))

            if FLEET_SD_FILE:
                _check_fleet(prom, Path(FLEET_SD_FILE))


def _check_fleet(prom: Prometheus, sd_file: Path) -> None:
    assert sd_file.is_file(), f"AIOPS_FLEET_SD_FILE={sd_file} does not exist"
    fleet = [t for t in prom.targets() if t["labels"].get("job") == "fleet"]
    assert fleet, f"no targets found in {sd_file}"
    prom.wait_for('up{job="fleet"} == 1', lambda result: len(result) == len(fleet), timeout=60)
    loads = prom.query('node_load1{job="fleet"}')
    assert len(loads) == len(fleet), loads
    print(f"fleet: {len(fleet)} agents up")
