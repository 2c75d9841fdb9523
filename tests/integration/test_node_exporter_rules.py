"""Widely used node_exporter alert rules (tests/rules/node_exporter_alerts.yml), unchanged, against
the agent's series: `promtool check rules`, then `promtool test rules` with input series built from
two real scrapes of the agent. The scraped values and label sets start every series; each scenario
then synthesises the rest of the hour forward (a disk at 5% of its real size, CPUs 95% busy, ...),
and the alerts promtool must see are computed from the scraped labels, so the rules are checked to
fire, and not to fire, on the device, mount point and fstype values the agent really reports."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import promtext
from tests.helpers.agentproc import running_agent
from tests.promtext import Family, Labels

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[1] / "rules" / "node_exporter_alerts.yml"
JOB = "node"
STEPS = 31  # samples at 0m, 1m, ... 30m; the first two are the real scrapes
EVAL_MINUTES = 30
# The fstype filter the disk rules apply (PromQL regexes are anchored).
DISK_RULE_FSTYPES = re.compile(r"fuse.*|tmpfs|cifs|nfs")  # fullmatch, as PromQL anchors
ALERTS = (
    "HostOutOfDiskSpace",
    "HostDiskWillFillIn24Hours",
    "HostHighCpuLoad",
    "HostOutOfMemory",
    "HostRebooted",
    "HostNetworkReceiveErrors",
    "HostNetworkTransmitErrors",
)


def promtool() -> str:
    return promtext.require_binary(("promtool",), "prometheus")


@dataclass
class Scrapes:
    first: dict[str, Family]
    second: dict[str, Family]
    instance: str

    def real(self, name: str) -> dict[Labels, tuple[float, float]]:
        """Both scraped values of every series of a family, by label set."""
        assert name in self.first and name in self.second, f"the agent does not expose {name}"
        a, b = self.first[name].by_labels(), self.second[name].by_labels()
        # A series in one scrape only (a container's veth interface that came or went between
        # the two collections) has no pair of values to replay: the rules get the others.
        common = set(a) & set(b)
        assert common, f"{name}: no series in both scrapes"
        # An empty label is no label once Prometheus stores the series (device_error="" on
        # node_filesystem_*); promtool's input series would keep it.
        return {
            tuple(pair for pair in labels if pair[1]): (a[labels], b[labels])
            for labels in sorted(common)
        }


@pytest.fixture(scope="module")
def scrapes() -> Scrapes:
    """Two pages from two consecutive collections of a real agent."""
    with running_agent({"agent": {"interval": "1s"}}) as agent:
        first = promtext.parse(agent.metrics())
        stamp = first["aiops_agent_last_collection_timestamp_seconds"].samples[0].value
        deadline = time.monotonic() + 15
        while True:
            second = promtext.parse(agent.metrics())
            if second["aiops_agent_last_collection_timestamp_seconds"].samples[0].value > stamp:
                break
            assert time.monotonic() < deadline, "no second collection within 15s"
            time.sleep(0.1)
        return Scrapes(first, second, f"{agent.host}:{agent.port}")


# --- building input series -------------------------------------------------------------------

Shape = Callable[[int, float, float], float]  # (minute >= 2, first, second) -> value


def constant(_minute: int, _first: float, second: float) -> float:
    return second


def grow(per_minute: float) -> Shape:
    return lambda minute, _first, second: second + (minute - 1) * per_minute


def promql_series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Host:
    """Input series for one scenario: every series starts at its two scraped values (minutes 0
    and 1) and continues as its shape says."""

    def __init__(self, scrapes: Scrapes) -> None:
        self.scrapes = scrapes
        self.series: dict[tuple[str, Labels], tuple[float, float, Shape]] = {}

    def labels(self, labels: Labels) -> dict[str, str]:
        return {**dict(labels), "instance": self.scrapes.instance, "job": JOB}

    def add(self, name: str, shape: Shape | PerSeries) -> None:
        for labels, (first, second) in self.scrapes.real(name).items():
            chosen = shape.shape(labels) if isinstance(shape, PerSeries) else shape
            self.series[(name, labels)] = (first, second, chosen)

    def input_series(self) -> list[dict[str, str]]:
        out = []
        for (name, labels), (first, second, shape) in sorted(self.series.items()):
            values = [first, second] + [shape(m, first, second) for m in range(2, STEPS)]
            out.append(
                {
                    "series": promql_series(name, self.labels(labels)),
                    "values": " ".join(repr(float(v)) for v in values),
                }
            )
        return out


@dataclass(frozen=True)
class PerSeries:
    """A shape chosen per label set (e.g. per CPU mode or per mount point)."""

    shape: Callable[[Labels], Shape]


def mounts(scrapes: Scrapes) -> dict[Labels, dict[str, float]]:
    """Per mount (device, fstype, mountpoint): the second scrape's size, avail and readonly."""
    size = scrapes.real("node_filesystem_size_bytes")
    avail = scrapes.real("node_filesystem_avail_bytes")
    readonly = scrapes.real("node_filesystem_readonly")
    return {
        labels: {"size": size[labels][1], "avail": avail[labels][1], "ro": readonly[labels][1]}
        for labels in size
    }


def disk_rule_mounts(scrapes: Scrapes) -> list[Labels]:
    """Mounts the disk rules look at: not excluded by their fstype filter, writable, sized."""
    chosen = [
        labels
        for labels, m in mounts(scrapes).items()
        if not DISK_RULE_FSTYPES.fullmatch(dict(labels)["fstype"])
        and m["ro"] == 0
        and m["size"] > 0
    ]
    assert chosen, (
        "no writable, non-tmpfs file system in the agent's scrape: the disk rules have nothing to "
        f"fire on here: {sorted(mounts(scrapes))}"
    )
    return chosen


def cpu_shape(idle_share: float) -> PerSeries:
    busy = {"user": 0.75, "system": 0.25}

    def shape(labels: Labels) -> Shape:
        mode = dict(labels)["mode"]
        if mode == "idle":
            return grow(60.0 * idle_share)
        return grow(60.0 * (1 - idle_share) * busy.get(mode, 0.0))

    return PerSeries(shape)


def build(scrapes: Scrapes, scenario: str) -> Host:
    host = Host(scrapes)
    sizes = {labels: m["size"] for labels, m in mounts(scrapes).items()}
    disk_targets = set(disk_rule_mounts(scrapes))
    mem_total = scrapes.real("node_memory_MemTotal_bytes")[()][1]

    def avail(labels: Labels) -> Shape:
        size = sizes[labels]
        healthy = lambda _m, _f, second: max(second, 0.5 * size)  # noqa: E731
        if labels not in disk_targets:
            return healthy
        if scenario == "disk_full":
            return lambda _m, _f, _s: 0.05 * size
        if scenario == "disk_filling":  # 1% of the disk a minute: full in well under a day
            return lambda m, f, s: healthy(2, f, s) - (m - 2) * 0.01 * size
        return healthy

    for name in ("node_filesystem_size_bytes", "node_filesystem_readonly"):
        host.add(name, constant)
    host.add("node_filesystem_avail_bytes", PerSeries(avail))
    host.add("node_cpu_seconds_total", cpu_shape(0.05 if scenario == "cpu_busy" else 0.9))
    host.add("node_memory_MemTotal_bytes", constant)
    host.add(
        "node_memory_MemAvailable_bytes",
        (lambda _m, _f, _s: 0.05 * mem_total)
        if scenario == "memory_low"
        else (lambda _m, _f, second: max(second, 0.5 * mem_total)),
    )
    host.add("node_time_seconds", grow(60.0))
    now = scrapes.real("node_time_seconds")[()][1]
    reboot_minute = 25
    host.add(
        "node_boot_time_seconds",
        (lambda m, _f, s: s if m < reboot_minute else now + reboot_minute * 60 - 120)
        if scenario == "rebooted"
        else constant,
    )
    error_rate = 300.0 if scenario == "network_errors" else 0.0  # of 6000 packets a minute: 5%
    for direction in ("receive", "transmit"):
        host.add(f"node_network_{direction}_packets_total", grow(6000.0))
        host.add(f"node_network_{direction}_errs_total", grow(error_rate))
    return host


def expected_alerts(scrapes: Scrapes, scenario: str) -> dict[str, list[dict[str, str]]]:
    """Alert name -> the label sets promtool must report firing at the evaluation time."""
    instance = {"instance": scrapes.instance, "job": JOB}
    expected: dict[str, list[dict[str, str]]] = {name: [] for name in ALERTS}
    disks = [{**dict(labels), **instance} for labels in disk_rule_mounts(scrapes)]
    devices = [
        {**dict(labels), **instance}
        for labels in scrapes.real("node_network_receive_packets_total")
    ]
    if scenario == "disk_full":
        expected["HostOutOfDiskSpace"] = [{**d, "severity": "critical"} for d in disks]
        # A drop from the real level to 5% within a minute also extrapolates to a full disk.
        m = mounts(scrapes)
        expected["HostDiskWillFillIn24Hours"] = [
            {**dict(labels), **instance, "severity": "warning"}
            for labels in disk_rule_mounts(scrapes)
            if m[labels]["avail"] > 0.05 * m[labels]["size"]
        ]
    elif scenario == "disk_filling":
        expected["HostDiskWillFillIn24Hours"] = [{**d, "severity": "warning"} for d in disks]
    elif scenario == "cpu_busy":
        expected["HostHighCpuLoad"] = [{**instance, "severity": "warning"}]
    elif scenario == "memory_low":
        expected["HostOutOfMemory"] = [{**instance, "severity": "warning"}]
    elif scenario == "rebooted":
        expected["HostRebooted"] = [{**instance, "severity": "info"}]
    elif scenario == "network_errors":
        for name in ("HostNetworkReceiveErrors", "HostNetworkTransmitErrors"):
            expected[name] = [{**d, "severity": "warning"} for d in devices]
    return expected


def annotations(alert: str, labels: dict[str, str]) -> dict[str, str]:
    """The rule's annotations with {{ $labels.x }} filled in (the rules use no other template)."""
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                return {
                    key: re.sub(
                        r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels[m.group(1)], text
                    )
                    for key, text in rule.get("annotations", {}).items()
                }
    raise KeyError(alert)


SCENARIOS = (
    "healthy",
    "disk_full",
    "disk_filling",
    "cpu_busy",
    "memory_low",
    "rebooted",
    "network_errors",
)


def rule_test(scrapes: Scrapes, scenario: str) -> dict[str, Any]:
    expected = expected_alerts(scrapes, scenario)
    return {
        "name": scenario,
        "interval": "1m",
        "input_series": build(scrapes, scenario).input_series(),
        "alert_rule_test": [
            {
                "eval_time": f"{EVAL_MINUTES}m",
                "alertname": alert,
                "exp_alerts": [
                    {"exp_labels": labels, "exp_annotations": annotations(alert, labels)}
                    for labels in expected[alert]
                ],
            }
            for alert in ALERTS
        ],
    }


def run_promtool_test(
    document: dict[str, Any], directory: Path
) -> subprocess.CompletedProcess[str]:
    path = directory / "node_exporter_alerts_test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return subprocess.run(
        [promtool(), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rules_file_is_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_rules_fire_on_the_agent_s_real_series(scrapes: Scrapes, tmp_path: Path) -> None:
    document = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [rule_test(scrapes, scenario) for scenario in SCENARIOS],
    }
    result = run_promtool_test(document, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Not vacuous: alerts are expected on the scraped label values.
    fired = [
        alert
        for test in document["tests"]
        for case in test["alert_rule_test"]
        for alert in case["exp_alerts"]
    ]
    assert any("mountpoint" in a["exp_labels"] for a in fired)
    assert any("cpu" not in a["exp_labels"] and "device" in a["exp_labels"] for a in fired)
    assert {a["exp_labels"]["instance"] for a in fired} == {scrapes.instance}


def test_promtool_catches_a_wrong_expectation(scrapes: Scrapes, tmp_path: Path) -> None:
    """The harness can fail: expecting silence where the disk is at 5% must not pass, nor must
    expecting a mount point the agent did not report."""
    base = rule_test(scrapes, "disk_full")
    silent = copy.deepcopy(base)
    for case in silent["alert_rule_test"]:
        case["exp_alerts"] = []
    wrong_label = copy.deepcopy(base)
    for case in wrong_label["alert_rule_test"]:
        for alert in case["exp_alerts"]:
            alert["exp_labels"]["mountpoint"] += "-not-reported"
    for variant in (silent, wrong_label):
        document = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [variant]}
        result = run_promtool_test(document, tmp_path)
        assert result.returncode != 0, result.stdout
