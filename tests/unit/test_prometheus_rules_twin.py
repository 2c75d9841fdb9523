"""rules/aiops-agent.rules.yml must stay the twin of the agent's default rule set
(config/alerting_schema.py DEFAULT_RULES): for every default rule and level a PromQL rule with the
same alert name and severity, the same series, threshold, clear level (hysteresis), direction,
`for`, and the same summary and description with the agent's placeholders written as Go
templates; and no PromQL rule without a twin. Changing a default in Python without the YAML (or
the other way round) fails here. The rules about the agents themselves (group aiops-agent-self)
have no twin; they must read labels the agent exports with values it can take."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiops_agent.config.alerting_schema import DEFAULT_RULES, ForecastSettings, RuleSettings
from aiops_agent.detection.rules import Level, Rule
from aiops_agent.selfmetrics import exposure_family
from aiops_agent.webconfig import Exposure

RULES = Path(__file__).resolve().parents[2] / "rules" / "aiops-agent.rules.yml"
RATE_RANGE = "5m"
HOST = '{{ reReplaceAll ":[0-9]+$" "" $labels.instance }}'
# Where the Prometheus rule truthfully says something else than the agent's text.
WORDING = {
    "A robust linear fit of": "A least-squares linear fit (deriv, predict_linear) of",
    # Only the agent knows a score's typical range, the series' value and the onset time.
    "is {series_value}, outside its typical range {typical_low} to {typical_high} since {since}": (
        "is outside its typical range (the agent names its range, value and onset time)"
    ),
}
_NUMBER = r"(-?[0-9.]+(?:e[+-]?[0-9]+)?)"


SELF_GROUP = "aiops-agent-self"


def promql_rules(group_name: str = "") -> list[dict[str, Any]]:
    """The rules of the twin groups, or of `group_name`."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [
        rule
        for group in document["groups"]
        if (group["name"] == group_name if group_name else group["name"] != SELF_GROUP)
        for rule in group["rules"]
    ]


def duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d)", text):
        total += int(number) * units[unit]
    assert re.fullmatch(r"(\d+(ms|s|m|h|d))+", text), text
    return total


def promql_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def value_expression(settings: RuleSettings, rule: Rule) -> str:
    """The PromQL of the value the agent compares, written the way the rules file writes it."""
    matchers = "{" + ", ".join(settings.matchers) + "}" if settings.matchers else ""
    if settings.forecast is not None:
        return forecast_expression(settings.forecast, f"{rule.names[0]}{matchers}")
    if settings.rate:
        return " + ".join(f"rate({name}{matchers}[{RATE_RANGE}])" for name in rule.names)
    return f"{rule.names[0]}{matchers}"


def forecast_expression(forecast: ForecastSettings, series: str) -> str:
    """The agent's forecast in PromQL: the long fit's rate is the slower of the least-squares
    slopes of the window's two halves; the short fit's is the slowest 1-of-2 slope over the short
    window, and counts when it forecasts the limit within the horizon and sooner."""
    half = promql_duration(forecast.window / 2)
    recent, older = f"deriv({series}[{half}])", f"deriv({series}[{half}] offset {half})"
    gap = f"{forecast.limit:g} - predict_linear({series}[{half}], 0) >= 0"
    long = f"({gap}) / (({recent} < {older} or {older}) > 0) / 3600"
    short_range = promql_duration(forecast.short_window / 2)
    subquery = (
        f"[{promql_duration(forecast.short_window)}:"
        f"{promql_duration(forecast.short_window / forecast.short_points)}]"
    )
    slowest = f"min_over_time(deriv({series}[{short_range}]){subquery})"
    short = (
        f"(({forecast.limit:g} - {series} >= 0) / ({slowest} > 0) / 3600"
        f" <= {forecast.short_horizon:g})"
    )
    return f"(({short} < {long}) or {long} or {short})"


def go_template(template: str, rule: Rule, level: Level) -> str:
    """The agent's annotation template with its placeholders written as Prometheus templates."""
    fields = {
        "value": '{{ printf "%.4g" $value }}',
        "value_percent": "{{ $value | humanizePercentage }}",
        "threshold": f"{level.threshold:.4g}",
        "clear": f"{level.clear:.4g}",
        "severity": level.severity,
        "alertname": rule.name,
        "host": HOST,
        "metric": " + ".join(rule.names),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("labels."):
            return "{{ $labels." + name[len("labels.") :] + " }}"
        return fields.get(name, match.group(0))

    text = re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}", replace, template)
    for agent_words, promql_words in WORDING.items():
        text = text.replace(agent_words, promql_words)
    return text


def find_twin(rules: list[dict[str, Any]], name: str, severity: str) -> dict[str, Any]:
    found = [r for r in rules if r["alert"] == name and r["labels"]["severity"] == severity]
    assert len(found) == 1, f"{name}/{severity}: {len(found)} PromQL rules, want exactly 1"
    return found[0]


@pytest.mark.parametrize("settings", DEFAULT_RULES, ids=lambda s: s.name)
def test_every_default_rule_has_a_promql_twin(settings: RuleSettings) -> None:
    rules = promql_rules()
    rule = Rule(settings)
    assert rule.levels, settings.name
    assert {r["labels"]["severity"] for r in rules if r["alert"] == settings.name} == {
        level.severity for level in rule.levels
    }, f"{settings.name}: severity levels differ"
    value = value_expression(settings, rule)
    op = ">" if rule.above else "<"
    for level in rule.levels:
        twin = find_twin(rules, settings.name, level.severity)
        lines = [line.strip() for line in twin["expr"].strip().splitlines()]
        assert len(lines) == 2, twin["expr"]
        fire = re.fullmatch(rf"(.+) ([<>]) {_NUMBER}", lines[0])
        assert fire, f"{settings.name}/{level.severity}: first line {lines[0]!r}"
        assert fire.group(1) == value, f"{settings.name}: reads {fire.group(1)!r}, want {value!r}"
        assert fire.group(2) == op, f"{settings.name}: direction"
        assert float(fire.group(3)) == pytest.approx(level.threshold), f"{settings.name} threshold"
        hold = re.fullmatch(
            rf"or \((.+) ([<>]) {_NUMBER} and ignoring\(alertname, alertstate, severity, host\) "
            rf'ALERTS\{{alertname="([^"]+)", severity="([^"]+)"\}}\)',
            lines[1],
        )
        assert hold, f"{settings.name}/{level.severity}: second line {lines[1]!r}"
        assert hold.group(1) == value and hold.group(2) == op
        assert float(hold.group(3)) == pytest.approx(level.clear), f"{settings.name} clear level"
        assert (hold.group(4), hold.group(5)) == (settings.name, level.severity)
        assert duration_seconds(twin.get("for", "0s")) == float(settings.for_), settings.name
        assert twin["labels"] == {"severity": level.severity, "host": HOST}
        description = settings.description or rule._default_description()
        assert twin["annotations"] == {
            "summary": go_template(settings.summary, rule, level),
            "description": go_template(description, rule, level),
        }
        assert "keep_firing_for" not in twin


def test_no_promql_rule_without_a_default_twin() -> None:
    defaults = {
        (settings.name, level.severity)
        for settings in DEFAULT_RULES
        for level in Rule(settings).levels
    }
    promql = [(r["alert"], r["labels"]["severity"]) for r in promql_rules()]
    assert len(promql) == len(set(promql)), "a rule and level appears twice"
    assert set(promql) == defaults


def test_disabled_defaults_sit_in_a_group_of_their_own() -> None:
    """A default rule the agent ships switched off (none today; HostAnomalousSeries was) has its
    twin in a separate group, so a user can drop it as a whole; every enabled default is in the
    main group."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    by_group = {
        g["name"]: {r["alert"] for r in g["rules"]}
        for g in document["groups"]
        if g["name"] != SELF_GROUP
    }
    enabled = {s.name for s in DEFAULT_RULES if s.enabled}
    disabled = {s.name for s in DEFAULT_RULES if not s.enabled}
    assert by_group["aiops-agent"] == enabled
    assert set().union(*(v for k, v in by_group.items() if k != "aiops-agent")) == disabled


def test_self_rules_read_what_the_agent_exports() -> None:
    """Each matcher of the self rules names a label of aiops_agent_http_exposed and a value the
    agent gives it, so a renamed label or value cannot leave a rule that never fires."""
    exported: dict[str, set[str]] = {}
    for exposed, tls, auth, writes in itertools.product(
        (False, True), (False, True), ("none", "basic", "client_cert"), (False, True)
    ):
        (sample,) = exposure_family(Exposure(exposed, tls, auth, writes)).samples
        for name, value in sample.labels:
            exported.setdefault(name, set()).add(value)
    rules = promql_rules(SELF_GROUP)
    assert rules
    for rule in rules:
        matchers = re.fullmatch(r"aiops_agent_http_exposed\{(.+)\} == 1", rule["expr"].strip())
        assert matchers, rule["expr"]
        for name, value in re.findall(r'(\w+)="([^"]*)"', matchers.group(1)):
            assert value in exported.get(name, set()), f"{rule['alert']}: {name}={value!r}"
        assert rule["labels"]["host"] == HOST
