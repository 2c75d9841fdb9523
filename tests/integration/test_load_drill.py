"""Load drill: /metrics under sustained concurrent scraping (wrk, 16 connections, 20 s) answers
every request with a 2xx and no socket errors, and meanwhile the collection loop keeps its
cadence: the mean interval between collections stays within 10% of the configured 1 s, no slot is
skipped, and no single interval strays more than 50%. Figures are printed for the closing note.

Then the same with gzip, which is what Prometheus asks for: the compressed page is cached per
collection, so this should cost no more than the plain page."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field

import pytest

from tests import promtext
from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

INTERVAL = 1.0
TOLERANCE = 0.10
WRK = shutil.which("wrk") or "/usr/bin/wrk"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    latency: dict[str, str]  # percentile -> "1.23ms"
    non_2xx: int
    socket_errors: dict[str, int]
    output: str


def run_wrk(
    url: str, seconds: int, connections: int = 16, threads: int = 2, *headers: str
) -> WrkResult:
    command = [
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for header in headers:
        command += ["-H", header]
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    out = result.stdout
    assert result.returncode == 0, f"wrk failed:\n{out}{result.stderr}"
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert total, out
    seconds_taken = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups())))
        if errors
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )
    return WrkResult(
        int(total.group(1)),
        seconds_taken,
        float(rps.group(1)),
        latency,
        int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors,
        out,
    )


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


@dataclass
class CadenceWatch:
    """Polls the agent's own metrics on a separate connection while the load runs, recording each
    new collection's timestamp: the gaps between them are the cadence under load."""

    agent: AgentProcess
    timestamps: list[float] = field(default_factory=list)
    poll_failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                stamp = metric(
                    self.agent.metrics(), "aiops_agent_last_collection_timestamp_seconds"
                )
                if not self.timestamps or stamp != self.timestamps[-1]:
                    self.timestamps.append(stamp)
            except (OSError, AssertionError):
                self.poll_failures += 1
            self._stop.wait(0.2)

    def __enter__(self) -> CadenceWatch:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.timestamps, self.timestamps[1:])]


def drill(agent: AgentProcess, seconds: int, *headers: str) -> tuple[WrkResult, dict[str, float]]:
    before = agent.metrics()
    with CadenceWatch(agent) as watch:
        result = run_wrk(agent.url + "/metrics", seconds, 16, 2, *headers)
    after = agent.metrics()
    collections = metric(after, "aiops_agent_collections_total") - metric(
        before, "aiops_agent_collections_total"
    )
    span = metric(after, "aiops_agent_last_collection_timestamp_seconds") - metric(
        before, "aiops_agent_last_collection_timestamp_seconds"
    )
    gaps = watch.gaps()
    figures = {
        "collections": collections,
        "mean_interval": span / collections if collections else float("inf"),
        "max_gap": max(gaps) if gaps else float("inf"),
        "min_gap": min(gaps) if gaps else 0.0,
        "overruns": metric(after, "aiops_agent_collection_overruns_total")
        - metric(before, "aiops_agent_collection_overruns_total"),
        "cpu_seconds": metric(after, "process_cpu_seconds_total")
        - metric(before, "process_cpu_seconds_total"),
        "poll_failures": float(watch.poll_failures),
    }
    return result, figures


def report(label: str, result: WrkResult, figures: dict[str, float]) -> None:
    deviation = abs(figures["mean_interval"] - INTERVAL) / INTERVAL
    print(
        f"\n[{label}] wrk -t2 -c16: {result.requests} requests in {result.seconds:.1f} s = "
        f"{result.requests_per_second:.0f} req/s; latency p50 {result.latency.get('50')} "
        f"p75 {result.latency.get('75')} p90 {result.latency.get('90')} "
        f"p99 {result.latency.get('99')}; non-2xx {result.non_2xx}; socket errors "
        f"{result.socket_errors}\n[{label}] cadence: {figures['collections']:.0f} collections, "
        f"mean interval {figures['mean_interval']:.3f} s (deviation {deviation:.1%}), gaps "
        f"{figures['min_gap']:.3f}..{figures['max_gap']:.3f} s, overruns "
        f"{figures['overruns']:.0f}; agent CPU {figures['cpu_seconds']:.1f} s over the run"
    )


def check(result: WrkResult, figures: dict[str, float]) -> None:
    assert result.requests > 0
    assert result.non_2xx == 0, result.output
    assert sum(result.socket_errors.values()) == 0, result.output
    assert abs(figures["mean_interval"] - INTERVAL) <= TOLERANCE * INTERVAL, figures
    assert figures["overruns"] == 0, figures
    assert figures["min_gap"] >= INTERVAL * 0.5 and figures["max_gap"] <= INTERVAL * 1.5, figures


def test_metrics_under_sustained_scraping_keeps_the_cadence() -> None:
    with running_agent({"agent": {"interval": f"{INTERVAL:g}s"}}) as agent:
        # A couple of collections first, so the page has its steady-state size.
        wait_for(
            lambda: (promtext.value(agent.metrics(), "aiops_agent_collections_total") or 0) >= 2,
            "two collections",
        )
        result, figures = drill(agent, 20)
        report("plain", result, figures)
        check(result, figures)
        result, figures = drill(agent, 10, "Accept-Encoding: gzip")
        report("gzip", result, figures)
        check(result, figures)
        assert agent.get("/healthz")[0] == 200
