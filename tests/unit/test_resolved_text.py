"""Resolved notifications say resolved: the value at resolve time and annotations worded for the
resolved state (generated, or the rule's resolved_summary / resolved_description), and the human
formats (Slack, e-mail, log) that show them."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from aiops_agent.alerting.lifecycle import Lifecycle
from aiops_agent.base.events import AlertEvent
from aiops_agent.base.model import Labels
from aiops_agent.config.alerting_schema import DEFAULT_RULES, ForecastSettings, RuleSettings
from aiops_agent.config.notify_schema import EmailReceiver, LogReceiver, SlackReceiver
from aiops_agent.config.types import Duration, Secret
from aiops_agent.detection.rules import Rule
from aiops_agent.notify.grouping import single
from aiops_agent.notify.senders import Context, email, slack
from aiops_agent.notify.senders.log import LogSender

SERIES: Labels = (("device", "eth0"),)
CONTEXT = Context("rcv", "testhost", "http://127.0.0.1:9877", "0.1.0")


def fire_and_clear(
    settings: RuleSettings, high: float, low: float
) -> tuple[AlertEvent, AlertEvent]:
    rule = Rule(settings)
    lifecycle = Lifecycle("web-1", "web-1:9877", 3600.0, 300.0, 100)
    lifecycle.evaluate(rule, {SERIES: high}, 0.0)
    (fired,) = lifecycle.finish(0.0, [rule.name])
    lifecycle.evaluate(rule, {SERIES: low}, 60.0)
    (resolved,) = lifecycle.finish(60.0, [rule.name])
    return fired, resolved


def test_generated_annotations_describe_the_resolve() -> None:
    settings = RuleSettings(name="Errors", metric="m", warning=0.06, warning_clear=0.05)
    fired, resolved = fire_and_clear(settings, 0.1121, 0.035)
    assert fired.annotations == {
        "summary": "Errors on web-1: 0.1121",
        "description": "m is 0.1121, above the warning threshold 0.06 (clears at 0.05).",
    }
    assert resolved.value == 0.035
    assert resolved.annotations == {
        "summary": "Resolved: Errors on web-1: 0.035",
        "description": "m is 0.035, back below the warning threshold 0.06 (cleared at 0.05).",
    }


def test_rate_and_below_rules_word_it_their_way() -> None:
    settings = RuleSettings(
        name="Low", metric="m", direction="below", rate=True, warning=5.0, for_=Duration(0)
    )
    _, resolved = fire_and_clear(settings, 1.0, 9.0)
    assert resolved.annotations["description"] == (
        "The per-second rate of m is 9, back above the warning threshold 5 (cleared at 5)."
    )


def test_forecast_rule_resolve() -> None:
    settings = RuleSettings(
        name="Full", metric="m", direction="below", warning=24.0, forecast=ForecastSettings()
    )
    _, resolved = fire_and_clear(settings, 3.0, 40.0)
    assert resolved.annotations["description"] == (
        "A robust linear fit of m over the last 21600s (the last 120s for a fill due within 4 "
        "hours) reaches 1 in 40 hours, back above the warning threshold of 24 hours (cleared at "
        "24)."
    )


def test_user_templates_for_the_resolved_state() -> None:
    settings = RuleSettings(
        name="Errors",
        metric="m",
        warning=0.06,
        summary="{labels.device} drops {value}/s",
        description="{labels.device} drops {value}/s, above {threshold}",
        resolved_summary="{labels.device} recovered ({value}/s)",
        resolved_description="{labels.device} is back to {value}/s (cleared at {clear})",
    )
    fired, resolved = fire_and_clear(settings, 0.1, 0.01)
    assert fired.annotations["description"] == "eth0 drops 0.1/s, above 0.06"
    assert resolved.annotations == {
        "summary": "eth0 recovered (0.01/s)",
        "description": "eth0 is back to 0.01/s (cleared at 0.06)",
    }
    # Without the resolved_* keys: the summary marked resolved, the description generated (the
    # user's firing description cannot be reworded, and would state the opposite).
    plain = replace(settings, resolved_summary="", resolved_description="")
    _, resolved = fire_and_clear(plain, 0.1, 0.01)
    assert resolved.annotations == {
        "summary": "Resolved: eth0 drops 0.01/s",
        "description": "m is 0.01, back below the warning threshold 0.06 (cleared at 0.06).",
    }


@pytest.mark.parametrize("settings", DEFAULT_RULES, ids=lambda s: s.name)
def test_every_default_rule_words_its_resolve(settings: RuleSettings) -> None:
    rule = Rule(settings)
    level = rule.levels[0]
    text = rule.annotations({"host": "web-1"}, level.clear, level, resolved=True)
    assert text["summary"].startswith("Resolved: ")
    assert "back " in text["description"] and "cleared at" in text["description"]


# --- the human formats ---------------------------------------------------------------------------
def resolved_event() -> AlertEvent:
    settings = RuleSettings(name="Errors", metric="m", warning=0.06, warning_clear=0.05)
    return fire_and_clear(settings, 0.1121, 0.035)[1]


def test_slack_says_resolved_once_with_the_resolve_value() -> None:
    settings = SlackReceiver(url=Secret("http://x"))
    document = slack.payload(single(resolved_event()), settings, CONTEXT)
    assert document["text"] == "[RESOLVED] Errors on web-1: Errors on web-1: 0.035"
    attachment = document["attachments"][0]
    assert attachment["title"] == "Resolved: Errors"
    assert attachment["text"].startswith("m is 0.035, back below the warning threshold 0.06")
    assert attachment["text"].endswith("; value when resolved 0.035")


def test_email_subject_and_body() -> None:
    settings = EmailReceiver(smarthost="localhost:25", from_address="a@b", to=["c@d"])
    mail = email.message(single(resolved_event()), settings, CONTEXT)
    assert mail["Subject"] == "[RESOLVED] Errors on web-1: Errors on web-1: 0.035"
    body = mail.get_content()
    assert body.startswith("m is 0.035, back below the warning threshold 0.06 (cleared at 0.05).")
    assert "Value when resolved: 0.035" in body


def test_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="aiops_agent.alerts"):
        LogSender(LogReceiver(), CONTEXT).send([single(resolved_event())])
    (record,) = caplog.records
    assert record.getMessage() == "alert resolved"
    assert record.summary == "Resolved: Errors on web-1: 0.035"  # type: ignore[attr-defined]
    assert record.value == 0.035  # type: ignore[attr-defined]
