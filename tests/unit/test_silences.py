"""Silences: validation of the API's silence object, matching, expiry, config silences,
persistence across restarts, the cap, and a corrupt file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from aiops_agent.alerting.silences import (
    FILE_NAME,
    SilenceLimitError,
    SilenceStore,
    silence_from_json,
    silences_from_config,
)
from aiops_agent.base.matchers import parse_matcher
from aiops_agent.base.timefmt import parse_timestamp
from aiops_agent.config.alerting_schema import SilenceSettings

NOW = 1_700_000_000.0
LABELS = {"alertname": "HostCpuSaturation", "severity": "warning", "host": "h1"}


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "matchers": [{"name": "alertname", "value": "HostCpu.*", "isRegex": True}],
        "startsAt": "2023-11-14T22:13:20Z",  # NOW
        "endsAt": NOW + 3600,
        "createdBy": "ops",
        "comment": "maintenance",
    }
    data.update(overrides)
    return data


def test_api_silence_matches_within_its_window(tmp_path: Path) -> None:
    store = SilenceStore(str(tmp_path), 10)
    silence = silence_from_json(body(), NOW, "id1")
    assert silence.starts_at == NOW
    store.add(silence, NOW)
    assert store.silencing(LABELS, NOW + 10) == ["id1"]
    assert store.silencing({**LABELS, "alertname": "HostMemoryPressure"}, NOW + 10) == []
    assert store.silencing(LABELS, NOW + 3600) == []  # ended
    assert store.silencing(LABELS, NOW - 1) == []  # not started


def test_negative_matcher() -> None:
    matcher = {"name": "severity", "value": "critical", "isEqual": False}
    silence = silence_from_json(body(matchers=[matcher, {"name": "host", "value": "h1"}]), NOW, "x")
    store = SilenceStore(None, 10)
    store.add(silence, NOW)
    assert store.silencing(LABELS, NOW) == ["x"]
    assert store.silencing({**LABELS, "severity": "critical"}, NOW) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"matchers": []}, "non-empty"),
        ({"matchers": [{"name": "host", "value": ".*", "isRegex": True}]}, "empty string"),
        ({"matchers": [{"name": "host", "value": "(", "isRegex": True}]}, "regular expression"),
        ({"matchers": [{"name": "bad name", "value": "x"}]}, "not a label name"),
        ({"matchers": [{"name": "host", "value": 1}]}, "strings"),
        ({"endsAt": NOW - 10}, "later than"),
        ({"endsAt": "tomorrow"}, "not a time"),
        ({"endsAt": "2030-01-01T00:00:00"}, "time zone"),
        ({"createdBy": ""}, "createdBy"),
    ],
)
def test_invalid_silences_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        silence_from_json(body(**overrides), NOW, "id")


def test_expire_keeps_it_listed_and_ends_its_effect(tmp_path: Path) -> None:
    store = SilenceStore(str(tmp_path), 10)
    store.add(silence_from_json(body(), NOW, "id1"), NOW)
    assert store.expire("id1", NOW + 5) is None
    assert store.silencing(LABELS, NOW + 6) == []
    (listed,) = store.all(NOW + 6)
    assert listed.as_json(NOW + 6)["status"] == {"state": "expired"}
    assert store.expire("nope", NOW) == "not found"
    assert store.all(NOW + 2 * 86400) == []  # purged after the retention


def test_silences_survive_a_restart(tmp_path: Path) -> None:
    store = SilenceStore(str(tmp_path), 10)
    store.add(silence_from_json(body(), NOW, "keep"), NOW)
    store.add(silence_from_json(body(), NOW, "gone"), NOW)
    store.expire("gone", NOW + 1)
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600
    reopened = SilenceStore(str(tmp_path), 10)
    states = {s.id: s.state(NOW + 2) for s in reopened.all(NOW + 2)}
    assert states == {"keep": "active", "gone": "expired"}
    assert reopened.silencing(LABELS, NOW + 2) == ["keep"]


def test_corrupt_file_is_survived(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("{not json", encoding="utf-8")
    assert SilenceStore(str(tmp_path), 10).all(NOW) == []
    records = {"version": 1, "silences": [{"id": "a"}, {**body(), "id": "b", "endsAt": NOW + 10}]}
    (tmp_path / FILE_NAME).write_text(json.dumps(records), encoding="utf-8")
    assert [s.id for s in SilenceStore(str(tmp_path), 10).all(NOW)] == ["b"]


def test_cap_refuses_new_silences_but_allows_updates(tmp_path: Path) -> None:
    store = SilenceStore(str(tmp_path), 2)
    store.add(silence_from_json(body(), NOW, "a"), NOW)
    store.add(silence_from_json(body(), NOW, "b"), NOW)
    with pytest.raises(SilenceLimitError):
        store.add(silence_from_json(body(), NOW, "c"), NOW)
    store.add(silence_from_json(body(id="a", comment="longer"), NOW, "ignored"), NOW)
    assert {s.id: s.comment for s in store.all(NOW)}["a"] == "longer"


def test_config_silences_have_stable_ids_and_are_not_saved(tmp_path: Path) -> None:
    settings = [SilenceSettings(matchers=[parse_matcher('host="h1"')], comment="lab host")]
    first, second = silences_from_config(settings), silences_from_config(settings)
    assert first[0].id == second[0].id and first[0].id.startswith("config-")
    assert first[0].ends_at == math.inf
    store = SilenceStore(str(tmp_path), 10)
    store.set_config(first)
    assert store.silencing(LABELS, NOW) == [first[0].id]
    assert store.expire(first[0].id, NOW) == "defined in the config file"
    assert not (tmp_path / FILE_NAME).exists()
    with pytest.raises(ValueError, match="end after"):
        SilenceSettings(
            matchers=[parse_matcher('host="h"')],
            starts_at=parse_timestamp("2030-01-02T00:00:00Z"),
            ends_at=parse_timestamp("2030-01-01T00:00:00Z"),
        )
