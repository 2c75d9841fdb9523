"""`aiops-agent check-config --no-resolve-secrets --print-endpoints`: a config checked away from
where it runs (the Kubernetes role checks the ConfigMap's config on the controller, where the
pod's secret files and environment do not exist), and the receivers' endpoints derived by the
agent's own parser for the NetworkPolicy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aiops_agent.cli import main
from aiops_agent.config import ConfigError, load_config
from aiops_agent.config.endpoints import receiver_endpoints

RECEIVERS = """\
receivers:
  literal_ip: {webhook: {url: "http://192.0.2.10:8080/hook?token=s3cr3t", hmac_secret: "file:/absent/hmac"}}
  by_name: {alertmanager: {url: "https://alertmanager.example.com/"}}
  in_file: {slack: {url: "file:/absent/slack-url"}}
  in_env: {webhook: {url: "${AIOPS_TEST_UNSET_URL}"}}
  paging: {pagerduty: {routing_key: "${AIOPS_TEST_UNSET_KEY}"}}
  mail: {email: {smarthost: "[2001:db8::25]:587", from_address: a@example.com, to: [b@example.com]}}
  quiet: {log: {}}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_references_are_not_resolved_but_still_checked_for_form(tmp_path: Path) -> None:
    path = write(tmp_path, RECEIVERS)
    with pytest.raises(ConfigError):  # resolved by default: the files and variables are absent
        load_config(path, {}, required=True)
    config = load_config(path, {}, required=True, resolve_secrets=False)
    assert config.receivers["in_file"].type == "slack"
    assert config.receivers["literal_ip"].settings.hmac_secret  # type: ignore[union-attr]
    bad = write(tmp_path, 'receivers:\n  r: {webhook: {url: "file:"}}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(bad, {}, required=True, resolve_secrets=False)
    (problem,) = caught.value.problems
    assert "receivers.r.webhook.url" in str(problem) and "file: must be followed" in str(problem)


def test_other_mistakes_are_still_reported_without_resolving(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'receivers:\n  r: {webhook: {url: "ftp://example.com/", hmac_secret: "file:/absent"}}\n'
        "detection:\n  rules:\n    - {name: R, metric: node_load1, warnng: 0.5}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, required=True, resolve_secrets=False)
    found = "\n".join(str(p) for p in caught.value.problems)
    assert "receivers.r.webhook: url must start with http:// or https://" in found
    assert "detection.rules.0.warnng: unknown key; did you mean 'warning'?" in found


@pytest.mark.parametrize(
    ("url", "message"),
    [("http://example.com:99999/", "has an invalid port"), ("http:///path", "has no host")],
)
def test_urls_that_cannot_be_connected_to_are_rejected(
    tmp_path: Path, url: str, message: str
) -> None:
    path = write(tmp_path, f'receivers:\n  r: {{webhook: {{url: "{url}"}}}}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, required=True)
    (problem,) = caught.value.problems
    assert f"config.yaml:2: receivers.r.webhook: url {message} (value not shown)" in str(problem)


def test_endpoints_of_every_receiver_type(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, RECEIVERS), {}, required=True, resolve_secrets=False)
    by_name = {e["receiver"]: e for e in receiver_endpoints(config)}
    assert by_name == {
        "by_name": {
            "receiver": "by_name",
            "type": "alertmanager",
            "host": "alertmanager.example.com",
            "port": 443,
            "cidr": None,
            "unresolved": False,
        },
        "in_env": {
            "receiver": "in_env",
            "type": "webhook",
            "host": None,
            "port": None,
            "cidr": None,
            "unresolved": True,
        },
        "in_file": {
            "receiver": "in_file",
            "type": "slack",
            "host": None,
            "port": None,
            "cidr": None,
            "unresolved": True,
        },
        "literal_ip": {
            "receiver": "literal_ip",
            "type": "webhook",
            "host": "192.0.2.10",
            "port": 8080,
            "cidr": "192.0.2.10/32",
            "unresolved": False,
        },
        "mail": {
            "receiver": "mail",
            "type": "email",
            "host": "2001:db8::25",
            "port": 587,
            "cidr": "2001:db8::25/128",
            "unresolved": False,
        },
        # The routing key is a reference; the URL is the default Events API endpoint.
        "paging": {
            "receiver": "paging",
            "type": "pagerduty",
            "host": "events.pagerduty.com",
            "port": 443,
            "cidr": None,
            "unresolved": False,
        },
    }


def test_cli_prints_endpoints_as_json_without_paths_or_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, RECEIVERS)
    assert main(["check-config", "--config", path, "--no-resolve-secrets"]) == 0
    assert capsys.readouterr().out == ""  # endpoints only when asked for
    code = main(["check-config", "--config", path, "--no-resolve-secrets", "--print-endpoints"])
    out, err = capsys.readouterr()
    assert code == 0, err
    endpoints = json.loads(out)
    assert [e["receiver"] for e in endpoints] == [
        "by_name", "in_env", "in_file", "literal_ip", "mail", "paging"
    ]  # fmt: skip
    assert "s3cr3t" not in out and "/hook" not in out and "/absent" not in out
    # Without the option the same config fails: its secret files are not on this machine.
    assert main(["check-config", "--config", path, "--print-endpoints"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "cannot read secret file /absent/hmac" in err


def test_cli_reads_no_web_config_file_when_not_resolving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "http:\n  web_config_file: absent-web.yml\n")
    assert main(["check-config", "--config", path]) == 2
    assert "absent-web.yml" in capsys.readouterr().err
    assert main(["check-config", "--config", path, "--no-resolve-secrets"]) == 0


def test_receiver_packages_are_not_required_of_the_checking_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller that renders the ConfigMap need not have the agent's packages."""
    monkeypatch.setitem(sys.modules, "requests", None)  # find_spec: absent, as without it
    path = write(tmp_path, "receivers:\n  hook: {webhook: {url: 'http://127.0.0.1:9/x'}}\n")
    with pytest.raises(ConfigError, match="needs the Python package 'requests'"):
        load_config(path, {}, required=True)
    config = load_config(path, {}, required=True, resolve_secrets=False)
    assert config.receivers["hook"].type == "webhook"
