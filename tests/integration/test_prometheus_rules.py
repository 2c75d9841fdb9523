"""rules/aiops-agent.rules.yml, the Prometheus twin of the agent's default rule set:

* `promtool check rules` accepts it;
* `promtool test rules tests/rules/aiops-agent.rules.test.yml` passes: for every rule, series that
  fire it after its `for`, keep it firing inside the clear band (hysteresis) and resolve it, and
  series that never fire it, at both levels;
* the unit tests can fail: the same tests against a copy of the rules without the hysteresis
  branch, or with one threshold moved, fail;
* a real Prometheus scraping a real agent evaluates every rule without error, and every series
  the rules read is on the agent's /metrics under that name.

tests/unit/test_prometheus_rules_twin.py checks that the thresholds, levels, `for` and
annotations are those of the Python default rule set."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import promtext
from tests.helpers.agentproc import running_agent
from tests.helpers.prometheus import running_prometheus
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "aiops-agent.rules.yml"
UNIT_TESTS = ROOT / "tests" / "rules" / "aiops-agent.rules.test.yml"
PROMQL_FUNCTIONS_AND_KEYWORDS = {
    "rate", "deriv", "predict_linear", "ignoring", "and", "or", "ALERTS", "alertname",
    "alertstate", "severity", "host", "offset", "min_over_time",
}  # fmt: skip
SPEED_DEPENDENT = {"aiops_agent_network_utilization_ratio"}


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = promtext.require_binary(("promtool",), "prometheus")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def rule_count() -> int:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return sum(len(group["rules"]) for group in document["groups"])


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {rule_count()} rules found" in result.stdout, result.stdout


def test_promtool_unit_tests_pass() -> None:
    document = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    cases = sum(len(test["alert_rule_test"]) for test in document["tests"])
    expected = sum(
        len(case["exp_alerts"]) for test in document["tests"] for case in test["alert_rule_test"]
    )
    tested = {case["alertname"] for test in document["tests"] for case in test["alert_rule_test"]}
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert tested == names, f"rules without promtool tests: {sorted(names - tested)}"
    result = promtool("test", "rules", str(UNIT_TESTS))
    print(
        f"\npromtool test rules: {rule_count()} rules, {len(document['tests'])} scenarios, "
        f"{cases} evaluation cases, {expected} expected alerts"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _mutated(tmp_path: Path, text: str) -> Path:
    """A copy of the unit tests reading `text` as the rules file."""
    rules = tmp_path / "mutated.rules.yml"
    rules.write_text(text, encoding="utf-8")
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    tests["rule_files"] = [str(rules)]
    path = tmp_path / "mutated.test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutation", "pattern", "replacement"),
    [
        ("no hysteresis", r"\n\s+or \(.*ALERTS\{[^\n]*", ""),
        ("warning CPU level 0.9 -> 0.96", r"(aiops_agent_cpu_utilization_ratio) > 0\.9\n", r"\1 > 0.96\n"),
        ("swap range 5m -> 1m", r"node_vmstat_pswpin\[5m\]", "node_vmstat_pswpin[1m]"),
        ("forecast halves 3h -> 1h", r"3h", "1h"),
        ("short fit: slowest rate -> fastest", r"min_over_time\(deriv", "max_over_time(deriv"),
        ("anomaly level 0.3 -> 0.6", r"aiops_agent_anomaly_score > 0\.3", "aiops_agent_anomaly_score > 0.6"),
    ],
)  # fmt: skip
def test_unit_tests_catch_a_broken_rule(
    tmp_path: Path, mutation: str, pattern: str, replacement: str
) -> None:
    text, count = re.subn(pattern, replacement, RULES.read_text(encoding="utf-8"))
    assert count, f"mutation {mutation!r} did not apply"
    result = promtool("test", "rules", str(_mutated(tmp_path, text)))
    assert result.returncode != 0, f"{mutation}: promtool test rules still passes"
    assert "FAILED" in result.stdout + result.stderr


def _metric_names(rules: dict[str, Any]) -> set[str]:
    names = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in re.findall(
                r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?=\s*[\[{)\s]|$)", rule["expr"]
            ):
                if name not in PROMQL_FUNCTIONS_AND_KEYWORDS and not name.isdigit():
                    names.add(name)
    return names


def test_rules_evaluate_cleanly_in_prometheus_against_the_agent() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    wanted = _metric_names(rules)
    assert "aiops_agent_cpu_utilization_ratio" in wanted and "node_vmstat_pswpin" in wanted
    config = {
        "agent": {"interval": "1s"},
        # Scores from the second sample on, so the anomaly rule's series exists too.
        "detection": {"baselines": {"warmup": 2}},
    }
    with running_agent(config) as agent:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = promtext.parse(agent.metrics())
            if "aiops_agent_anomaly_score" in page and page["aiops_agent_anomaly_score"].samples:
                break
            time.sleep(0.5)
        # Links report a speed on some machines only (veth, physical NICs; virtio usually not),
        # and a family without samples is not exposed: the ratio is wanted only where a link
        # has a known speed.
        speeds = page.get("node_network_speed_bytes")
        any_speed = bool(speeds and any(sample.value > 0 for sample in speeds.samples))
        missing = {
            name
            for name in wanted
            if (name not in page or not page[name].samples)
            and (any_speed or name not in SPEED_DEPENDENT)
        }
        assert not missing, f"series the rules read that the agent does not expose: {missing}"

        scrape = [
            {
                "job_name": "aiops-agent",
                "static_configs": [{"targets": [f"127.0.0.1:{agent.port}"]}],
            }
        ]
        with running_prometheus(
            scrape, scrape_interval="1s", extra_config={"rule_files": [str(RULES)]}
        ) as prometheus:
            prometheus.wait_for("up == 1")
            wait_for(
                lambda: prometheus.query("count(aiops_agent_anomaly_score)"),
                "every series the rules read, in Prometheus",
                timeout=60,
            )
            # Evaluations that saw the data: each rule evaluated twice from here on.
            seen: dict[str, list[str]] = {}

            def evaluated_twice() -> list[dict[str, Any]]:
                groups = prometheus.api("rules")["groups"]
                listed = [rule for group in groups for rule in group["rules"]]
                for rule in listed:
                    times = seen.setdefault(rule["name"], [])
                    if rule.get("lastEvaluation", "").startswith("20") and (
                        not times or times[-1] != rule["lastEvaluation"]
                    ):
                        times.append(rule["lastEvaluation"])
                twice = len(listed) == rule_count() and all(
                    len(seen[rule["name"]]) >= 3 for rule in listed
                )
                return listed if twice else []

            listed = wait_for(evaluated_twice, "each rule evaluated with data", timeout=60)
            assert len(listed) == rule_count()
            unhealthy = [
                (rule["name"], rule.get("health"), rule.get("lastError"))
                for rule in listed
                if rule.get("health") != "ok" or rule.get("lastError")
            ]
            assert not unhealthy, f"rules failing in Prometheus: {unhealthy}"
