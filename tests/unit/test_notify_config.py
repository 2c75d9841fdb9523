"""Configuration of receivers, routes and the outbox: what loads, and every error names the key
path and line without showing a secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aiops_agent.config import ConfigError, load_config
from aiops_agent.config.notify_schema import PAGERDUTY_URL

SECRET = "s3cr3t-token-value"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path), {}, required=True)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [str(p) for p in caught.value.problems]


def test_defaults_have_no_receivers_and_route_to_log(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.receivers == {} and config.routes == []
    assert config.outbox.max_items == 10000 and config.outbox.synchronous == "full"


def test_receivers_routes_and_secrets_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_KEY", SECRET)
    secret_file = tmp_path / "hmac"
    secret_file.write_text("hmac-secret\n")
    config = load(
        tmp_path,
        f"""
receivers:
  oncall: {{pagerduty: {{routing_key: "${{PD_KEY}}"}}}}
  hook:
    webhook:
      url: http://127.0.0.1:1/hook
      hmac_secret: "file:{secret_file}"
      headers: {{X-Team: ops}}
      timeout: 2s
  am: {{alertmanager: {{url: http://127.0.0.1:9093, resend_interval: 30s}}}}
routes:
  - {{receiver: oncall, severity: [critical], continue: true}}
  - {{receiver: hook, matchers: ['team="ops"', 'env!~"dev|test"']}}
outbox: {{max_items: 50, max_age: 1h, backoff_base: 500ms}}
""",
    )
    assert config.receivers["oncall"].type == "pagerduty"
    pagerduty = config.receivers["oncall"].pagerduty
    assert pagerduty is not None and pagerduty.routing_key.reveal() == SECRET
    assert pagerduty.url == PAGERDUTY_URL
    assert SECRET not in repr(config)
    webhook = config.receivers["hook"].webhook
    assert webhook is not None and webhook.hmac_secret.reveal() == "hmac-secret"
    assert webhook.timeout == 2.0 and webhook.headers["X-Team"].reveal() == "ops"
    assert config.routes[0].continue_ is True and config.routes[1].continue_ is False
    assert config.outbox.max_age == 3600 and config.outbox.backoff_base == 0.5


def test_continue_can_be_overridden_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("routes:\n  - {receiver: log, continue: true}\n")
    config = load_config(str(path), {"AIOPS__ROUTES__0__CONTINUE": "false"}, required=True)
    assert config.routes[0].continue_ is False


def test_route_naming_an_unknown_receiver(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "receivers:\n  a: {log: {}}\nroutes:\n  - receiver: b\n")
    assert found.endswith(
        "config.yaml:4: routes.0.receiver: unknown receiver 'b' (defined: a, log)"
    ), found


def test_webhook_without_url(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "receivers:\n  hook:\n    webhook: {timeout: 5}\n")
    assert "config.yaml:3: receivers.hook.webhook.url: required key is missing" in found


def test_receiver_needs_exactly_one_type(tmp_path: Path) -> None:
    found = problems(tmp_path, "receivers:\n  a: {}\n  b: {log: {}, slack: {url: 'http://x'}}\n")
    assert any("receivers.a: a receiver has exactly one of" in p and "got none" in p for p in found)
    assert any("receivers.b:" in p and "got log, slack" in p for p in found)


def test_key_of_another_type_is_unknown(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "receivers:\n  s: {slack: {url: 'http://x', routing_key: k}}\n")
    assert "receivers.s.slack.routing_key: unknown key" in found


def test_bad_url_is_reported_without_its_value(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, f"receivers:\n  s: {{slack: {{url: 'ftp://{SECRET}'}}}}\n")
    assert "receivers.s.slack: url must start with http:// or https://" in found
    assert SECRET not in found


def test_missing_secret_variable_names_the_variable(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "receivers:\n  p: {pagerduty: {routing_key: '${NOPE_KEY}'}}\n")
    assert "receivers.p.pagerduty.routing_key: environment variable NOPE_KEY is not set" in found


def test_bad_matcher_and_bad_receiver_name(tmp_path: Path) -> None:
    found = problems(tmp_path, "routes:\n  - {receiver: log, matchers: ['a=~(']}\n")
    assert any("routes.0.matchers.0: invalid regular expression" in p for p in found)
    found = problems(tmp_path, "receivers:\n  'bad/name': {log: {}}\n")
    assert any("receivers.bad/name: receiver names are" in p for p in found)


def test_email_checks(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "receivers:\n  m: {email: {smarthost: nohost, from_address: a@b, to: [c@d], username: u}}\n",
    )
    assert any("smarthost must be HOST:PORT" in p for p in found)


def test_outbox_bounds(tmp_path: Path) -> None:
    found = problems(tmp_path, "outbox: {max_items: 1, synchronous: sometimes}\n")
    assert any("outbox.max_items: must be at least 10" in p for p in found)
    assert any("outbox.synchronous: must be one of full, normal" in p for p in found)
    found = problems(tmp_path, "outbox: {backoff_base: 10m, backoff_max: 1m}\n")
    assert any("backoff_base must not exceed backoff_max" in p for p in found)


def test_webhook_signature_defaults_and_eda_style(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "receivers:\n"
        "  plain: {webhook: {url: 'http://x'}}\n"
        "  eda:\n"
        "    webhook:\n"
        "      url: http://x\n"
        "      signature: {header: X-Hub-Signature-256, include_timestamp: false}\n",
    )
    plain, eda = config.receivers["plain"].webhook, config.receivers["eda"].webhook
    assert plain is not None and eda is not None
    assert plain.signature.header == "X-Aiops-Signature" and plain.signature.include_timestamp
    assert (plain.signature.algorithm, plain.signature.encoding) == ("sha256", "hex")
    assert plain.signature.prefix == "sha256="
    assert eda.signature.header == "X-Hub-Signature-256"
    assert eda.signature.include_timestamp is False


def test_webhook_signature_choices_are_checked_with_the_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "receivers:\n"
        "  eda:\n"
        "    webhook:\n"
        "      url: http://x\n"
        "      signature:\n"
        "        algorithm: md5\n"
        "        encoding: hexa\n",
    )
    assert any(
        "config.yaml:6: receivers.eda.webhook.signature.algorithm: must be one of "
        "sha256, sha384, sha512" in p
        for p in found
    ), found
    assert any(
        "config.yaml:7: receivers.eda.webhook.signature.encoding: must be one of hex, base64; "
        "did you mean 'hex'?" in p
        for p in found
    ), found


def test_webhook_signature_prefix_and_header_are_checked(tmp_path: Path) -> None:
    (found,) = problems(
        tmp_path,
        "receivers:\n  h: {webhook: {url: 'http://x', signature: {algorithm: sha512}}}\n",
    )
    assert "receivers.h.webhook.signature: prefix 'sha256=' names another digest" in found
    (found,) = problems(
        tmp_path,
        "receivers:\n  h: {webhook: {url: 'http://x', signature: {header: 'X Sig:'}}}\n",
    )
    assert "receivers.h.webhook.signature: header 'X Sig:' is not a valid HTTP header" in found


@pytest.mark.parametrize("missing", ["requests", "urllib3"])
def test_http_receiver_without_its_package_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    # None in sys.modules makes find_spec report the module as absent, as in a venv without it.
    monkeypatch.setitem(sys.modules, missing, None)
    text = (
        "receivers:\n  fine: {log: {}}\n  oncall:\n    pagerduty: {routing_key: k}\n"
        "  hook: {webhook: {url: 'http://127.0.0.1:9/x'}}\n"
    )
    found = problems(tmp_path, text)
    assert found == [
        f"{tmp_path / 'config.yaml'}:3: receivers.oncall: pagerduty needs the Python package "
        f"'requests' (No module named '{missing}')",
        f"{tmp_path / 'config.yaml'}:5: receivers.hook: webhook needs the Python package "
        f"'requests' (No module named '{missing}')",
    ]


def test_log_and_email_receivers_need_no_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "requests", None)
    text = (
        "receivers:\n  a: {log: {}}\n"
        "  m: {email: {smarthost: 'localhost:25', from_address: a@b, to: [c@d], tls: none}}\n"
    )
    assert set(load(tmp_path, text).receivers) == {"a", "m"}
