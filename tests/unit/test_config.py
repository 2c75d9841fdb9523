"""Every error path of the configuration loader: each names the key, the file and the line, and
no secret value ever appears in an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiops_agent.base.listen import ListenAddress
from aiops_agent.config import ConfigError, load_config
from aiops_agent.config.errors import Notice
from aiops_agent.config.loader import MAX_CONFIG_BYTES
from aiops_agent.config.types import Secret, parse_duration


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems(path: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {}, required=True)
    return [str(p) for p in caught.value.problems]


def test_no_file_at_default_path_means_defaults(tmp_path: Path) -> None:
    config = load_config(str(tmp_path / "absent.yaml"), {})
    assert config.agent.interval == 15.0
    assert config.http.listen == ("127.0.0.1", 9877)


def test_missing_file_that_was_asked_for_is_an_error(tmp_path: Path) -> None:
    (found,) = problems(str(tmp_path / "absent.yaml"))
    assert "absent.yaml" in found and "cannot read" in found


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}, required=True).log.level == "info"


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    path = write(tmp_path, "agent:\n  interval: 1m30s\nhttp:\n  listen: '[::1]:9100'\n")
    config = load_config(path, {}, required=True)
    assert config.agent.interval == 90.0
    assert config.http.listen == ("::1", 9100)


def test_unknown_key_suggests_the_nearest_and_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "agent:\n  interval: 10\n  intreval: 5\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}:3: agent.intreval: unknown key; did you mean 'interval'?")


def test_unknown_section(tmp_path: Path) -> None:
    (found,) = problems(write(tmp_path, "colectors: {}\n"))
    assert ":1: colectors: unknown key; did you mean 'collectors'?" in found


def test_wrong_types_are_all_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "agent:\n  interval: fast\nhttp:\n  max_connections: many\n"
        "collectors:\n  cpu:\n    enabled: 'yes please'\n",
    )
    found = problems(path)
    assert len(found) == 3
    assert any(f"{path}:2: agent.interval:" in p and "not a duration" in p for p in found)
    assert any(
        f"{path}:4: http.max_connections: expected an integer, got 'many'" in p for p in found
    )
    assert any(f"{path}:7: collectors.cpu.enabled: expected true or false" in p for p in found)


def test_ranges_and_choices(tmp_path: Path) -> None:
    path = write(tmp_path, "agent:\n  interval: 0.5\nlog:\n  level: verbose\n  format: jsn\n")
    found = problems(path)
    assert any("agent.interval: must be at least 1, got 0.5" in p for p in found)
    assert any("log.level: must be one of debug, info, warning, error" in p for p in found)
    assert any(
        "log.format: must be one of auto, json, text; did you mean 'json'?" in p for p in found
    )


def test_bad_listen_address_and_regex(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "http:\n  listen: localhost\ncollectors:\n  netdev:\n    device_exclude: '(unclosed'\n",
    )
    found = problems(path)
    assert any(f"{path}:2: http.listen:" in p and "HOST:PORT" in p for p in found)
    assert any(
        f"{path}:5: collectors.netdev.device_exclude: invalid regular expression" in p
        for p in found
    )


def test_section_that_is_not_a_mapping(tmp_path: Path) -> None:
    (found,) = problems(write(tmp_path, "http: 9877\n"))
    assert "http: expected a mapping, got a int" in found or "http: expected a mapping" in found


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    (found,) = problems(write(tmp_path, "- a\n- b\n"))
    assert "top level must be a mapping" in found


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "agent:\n  interval: 10\n   broken: [\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}:3: invalid YAML")


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "agent:\n  interval: 10\n  interval: 20\n")
    (found,) = problems(path)
    assert f"{path}:3: agent.interval: duplicate key" == found


def test_huge_file_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("#" * (MAX_CONFIG_BYTES + 10))
    (found,) = problems(str(path))
    assert "larger than 1024 KiB" in found


def test_binary_junk_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(b"agent:\n  interval: 1\x00\x01\x02")
    (found,) = problems(str(path))
    assert f"{path}:2: binary data" in found
    path.write_bytes(b"\xff\xfe\x00garbage")
    (found,) = problems(str(path))
    assert "not UTF-8 text" in found


def test_unreadable_path_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (found,) = problems(str(tmp_path))  # a directory cannot be read as a file, even by root
    assert "cannot read" in found


def test_environment_overrides_the_file_with_the_keys_type(tmp_path: Path) -> None:
    path = write(tmp_path, "agent:\n  interval: 10\n")
    config = load_config(
        path,
        {
            "AIOPS__AGENT__INTERVAL": "30s",
            "AIOPS__HTTP__LISTEN": "127.0.0.1:19877",
            "AIOPS__COLLECTORS__CPU__ENABLED": "false",
            "AIOPS__HTTP__MAX_CONNECTIONS": "8",
        },
        required=True,
    )
    assert config.agent.interval == 30.0
    assert str(config.http.listen) == "127.0.0.1:19877"
    assert config.collectors.cpu.enabled is False
    assert config.http.max_connections == 8


def test_string_keys_from_environment_stay_verbatim(tmp_path: Path) -> None:
    config = load_config(None, {"AIOPS__AGENT__HOSTNAME": "0123"})
    assert config.agent.hostname == "0123"


def test_bad_environment_values_name_the_variable(tmp_path: Path) -> None:
    found = problems(
        write(tmp_path, ""),
        {"AIOPS__HTTP__MAX_CONNECTIONS": "lots", "AIOPS__AGENT__NO_SUCH": "1", "AIOPS__": "x"},
    )
    assert any(
        "environment variable AIOPS__HTTP__MAX_CONNECTIONS: http.max_connections: expected an integer"
        in p
        for p in found
    )
    assert any(
        "environment variable AIOPS__AGENT__NO_SUCH: agent.no_such: unknown key" in p for p in found
    )
    assert any("environment variable AIOPS__: empty key" in p for p in found)


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration("2") == 2.0
    for bad in ("", "5 minutes", "m5", "1h 30m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_parse_listen_address() -> None:
    assert ListenAddress.parse("0.0.0.0:80") == ("0.0.0.0", 80)
    assert ListenAddress.parse("[::1]:9877") == ("::1", 9877)
    assert str(ListenAddress.parse("[::1]:9877")) == "[::1]:9877"
    for bad in (":80", "host", "host:99999", "[::1:80"):
        with pytest.raises(ValueError):
            ListenAddress.parse(bad)


def test_the_config_keeps_the_listen_address_parsed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "http: {listen: '[::]:9100'}\n"), {}, required=True)
    assert config.http.listen == ListenAddress("::", 9100)
    assert config.http.listen.is_wildcard


@pytest.mark.parametrize(
    ("listen", "tls", "public", "local"),
    [
        ("0.0.0.0:9877", False, "http://web1:9877", "http://127.0.0.1:9877"),
        ("[::]:9877", True, "https://web1:9877", "https://[::1]:9877"),
        # Loopback is named by the host's name too: from elsewhere 127.0.0.1 is another machine.
        ("127.0.0.1:9877", True, "https://web1:9877", "https://127.0.0.1:9877"),
        ("[::1]:9877", False, "http://web1:9877", "http://[::1]:9877"),
        ("10.0.0.5:9877", False, "http://10.0.0.5:9877", "http://10.0.0.5:9877"),
        ("[fd00::5]:80", False, "http://[fd00::5]:80", "http://[fd00::5]:80"),
        ("web1.example:9877", False, "http://web1.example:9877", "http://web1.example:9877"),
        # Port 0 is the kernel's choice: the name alone, the same across restarts.
        ("127.0.0.1:0", False, "http://web1", "http://127.0.0.1:0"),
    ],
)
def test_one_way_to_name_the_listener(listen: str, tls: bool, public: str, local: str) -> None:
    address = ListenAddress.parse(listen)
    assert address.public_url(tls=tls, hostname="web1") == public
    assert address.authority("web1") == public.partition("://")[2]
    assert address.local_url(tls=tls) == local


def test_secret_hides_its_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiops_agent.config.types import resolve_secret

    monkeypatch.setenv("AIOPS_TEST_TOKEN", "s3cr3t-from-env")
    secret = resolve_secret("${AIOPS_TEST_TOKEN}")
    assert secret.reveal() == "s3cr3t-from-env"
    assert (
        "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret) and "s3cr3t" not in f"{secret}"
    )
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n")
    assert resolve_secret(f"file:{secret_file}").reveal() == "from-file"
    assert resolve_secret("literal").reveal() == "literal"
    # A reference inside a value, as in an Authorization header, is resolved in place.
    monkeypatch.setenv("AIOPS_TEST_USER", "ops")
    embedded = resolve_secret("Bearer ${AIOPS_TEST_TOKEN} for ${AIOPS_TEST_USER}")
    assert embedded.reveal() == "Bearer s3cr3t-from-env for ops"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_secret_errors_name_the_source_never_the_value(tmp_path: Path) -> None:
    from aiops_agent.config.types import resolve_secret

    with pytest.raises(ValueError, match="environment variable AIOPS_UNSET_VAR is not set"):
        resolve_secret("${AIOPS_UNSET_VAR}")
    with pytest.raises(ValueError, match="environment variable AIOPS_UNSET_VAR is not set"):
        resolve_secret("Bearer ${AIOPS_UNSET_VAR}")
    with pytest.raises(ValueError, match="cannot read secret file"):
        resolve_secret(f"file:{tmp_path / 'nope'}")


def test_every_key_is_documented() -> None:
    import dataclasses
    import typing

    from aiops_agent.config.schema import Config

    undocumented = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if not field.metadata.get("doc"):
                undocumented.append(prefix + field.name)
            hint = hints[field.name]
            for candidate in (hint, *typing.get_args(hint)):
                if dataclasses.is_dataclass(candidate) and isinstance(candidate, type):
                    walk(candidate, f"{prefix}{field.name}.")

    walk(Config, "")
    assert undocumented == []


def test_environment_is_not_read_from_os_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS__AGENT__INTERVAL", "bogus")
    assert load_config(None, {}).agent.interval == 15.0
    assert os.environ["AIOPS__AGENT__INTERVAL"] == "bogus"


# --- notices: no file, near-miss overrides ------------------------------------------------------


def test_no_file_says_defaults_are_used_and_a_file_says_nothing(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.yaml")
    notices: list[Notice] = []
    load_config(absent, {}, notices=notices)
    assert notices == [Notice("info", f"no configuration file at {absent}; using defaults")]
    present: list[Notice] = []
    load_config(write(tmp_path, "agent:\n  interval: 10\n"), {}, notices=present)
    assert present == []


def test_a_dangling_symlink_at_the_path_is_an_error_not_defaults(tmp_path: Path) -> None:
    link = tmp_path / "config.yaml"
    link.symlink_to(tmp_path / "nowhere.yaml")
    with pytest.raises(ConfigError, match="No such file or directory"):
        load_config(str(link), {})


@pytest.mark.parametrize(
    "variable",
    ["AIOPS_HTTP_LISTEN", "AIOPS_HTTP__LISTEN", "aiops__http__listen", "Aiops_Http_Listen"],
)
def test_near_miss_override_is_a_warning_with_the_right_spelling(variable: str) -> None:
    notices: list[Notice] = []
    config = load_config(None, {variable: "0.0.0.0:1"}, notices=notices)
    assert str(config.http.listen) == "127.0.0.1:9877"  # not read: a warning, not an override
    (warning,) = [n for n in notices if n.level == "warning"]
    assert f"environment variable {variable} is not read" in warning.message
    assert warning.message.endswith("did you mean AIOPS__HTTP__LISTEN?")


def test_near_miss_finds_nested_keys_and_leaves_other_software_alone() -> None:
    notices: list[Notice] = []
    environ = {
        "AIOPS_COLLECTORS_FILESYSTEM_STAT_TIMEOUT": "1s",
        "AIOPS_IMAGE": "registry.example.org/aiops-agent:1",  # some other tool's variable
        "AIOPS_HOOK_SECRET": "x",
        "AIOPS__COLLECTORS__CPU__ENABLED": "false",  # a real override: no warning
    }
    load_config(None, environ, notices=notices)
    warnings = [n.message for n in notices if n.level == "warning"]
    assert warnings == [
        "environment variable AIOPS_COLLECTORS_FILESYSTEM_STAT_TIMEOUT is not read: overrides "
        "are spelled AIOPS__SECTION__KEY; did you mean AIOPS__COLLECTORS__FILESYSTEM__STAT_TIMEOUT?"
    ]


def test_override_with_a_single_underscore_between_section_and_key_is_an_error(
    tmp_path: Path,
) -> None:
    found = problems(write(tmp_path, ""), {"AIOPS__HTTP_LISTEN": "127.0.0.1:1"})
    assert found == [
        "environment variable AIOPS__HTTP_LISTEN: http_listen: does not name a configurable key; "
        "did you mean AIOPS__HTTP__LISTEN?"
    ]


# --- empty secrets ------------------------------------------------------------------------------

WEBHOOK = "receivers:\n  hook:\n    webhook:\n      url: {url}\n      hmac_secret: {hmac}\n"


def test_reference_to_an_empty_variable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOPS_TEST_EMPTY", "")
    monkeypatch.setenv("AIOPS_TEST_URL", "https://hooks.example.org/x")
    path = write(tmp_path, WEBHOOK.format(url="'${AIOPS_TEST_URL}'", hmac="'${AIOPS_TEST_EMPTY}'"))
    assert problems(path) == [
        f"{path}:5: receivers.hook.webhook.hmac_secret: environment variable AIOPS_TEST_EMPTY "
        "is empty"
    ]


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    for content in ("", "\n"):
        secret = tmp_path / "url"
        secret.write_text(content)
        path = write(tmp_path, WEBHOOK.format(url=f"'file:{secret}'", hmac="''"))
        assert problems(path) == [
            f"{path}:4: receivers.hook.webhook.url: secret file {secret} is empty"
        ]


def test_literal_empty_secret_is_an_error_only_where_required(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK.format(url="''", hmac="''"))
    assert problems(path) == [f"{path}:4: receivers.hook.webhook.url: required secret is empty"]
    routing = write(tmp_path, "receivers:\n  pd:\n    pagerduty:\n      routing_key: ''\n")
    assert problems(routing) == [
        f"{routing}:4: receivers.pd.pagerduty.routing_key: required secret is empty"
    ]
    # Empty means "off" for a secret with a default: no signature.
    valid = write(tmp_path, WEBHOOK.format(url="https://hooks.example.org/x", hmac="''"))
    receiver = load_config(valid, {}, required=True).receivers["hook"].webhook
    assert receiver is not None and not receiver.hmac_secret


def test_required_secret_emptied_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, WEBHOOK.format(url="https://hooks.example.org/x", hmac="''"))
    assert problems(path, {"AIOPS__RECEIVERS__HOOK__WEBHOOK__URL": ""}) == [
        "environment variable AIOPS__RECEIVERS__HOOK__WEBHOOK__URL: receivers.hook.webhook.url: "
        "required secret is empty"
    ]


# --- errors in reading order ------------------------------------------------------------------


def test_errors_come_in_line_order_then_environment(tmp_path: Path) -> None:
    lines = ["collectors:", "  cpu:", "    enabled: maybe"]  # 1-3
    lines += ["log:", "  level: loud", "  bogus: 1"]  # 4-6
    lines += [f"# padding {n}" for n in range(7, 10)]  # 7-9: line 10 sorts after line 9
    lines += ["agent:", "  interval: often", "http:", "  listen: nowhere"]  # 10-13
    path = write(tmp_path, "\n".join(lines) + "\n")
    environ = {"AIOPS__HTTP__MAX_CONNECTIONS": "lots", "AIOPS__AGENT__SHUTDOWN_TIMEOUT": "never"}
    found = problems(path, environ)
    assert [p.split(": ")[0] for p in found] == [
        f"{path}:3",
        f"{path}:5",
        f"{path}:6",
        f"{path}:11",
        f"{path}:13",
        "environment variable AIOPS__AGENT__SHUTDOWN_TIMEOUT",
        "environment variable AIOPS__HTTP__MAX_CONNECTIONS",
    ]


def test_problems_on_one_line_are_ordered_by_key(tmp_path: Path) -> None:
    path = write(tmp_path, "log: {level: loud, format: jsn}\n")
    found = problems(path)
    assert [p.split(": ")[1] for p in found] == ["log.format", "log.level"]


def test_cross_section_problems_are_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path, "routes:\n  - receiver: nobody\nreceivers:\n  'bad name': {log: {}}\n")
    found = problems(path)
    assert [p.split(": ")[0] for p in found] == [f"{path}:2", f"{path}:4"]
