"""webconfig: basic-auth header parsing and checking (with its cache), and the web config file's
validation. The TLS side, with real handshakes, is in tests/integration/test_web_tls_auth.py."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from aiops_agent.config import ConfigError
from aiops_agent.config.schema import Config, HttpSection
from aiops_agent.webconfig import BasicAuth, _parse_basic, load_security, load_web_config


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def fast_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (header("u", "p"), ("u", b"p")),
        (header("u", "p:with:colons"), ("u", b"p:with:colons")),
        (header("u", ""), ("u", b"")),
        ("basic " + base64.b64encode(b"u:p").decode(), ("u", b"p")),  # scheme is case-blind
        ("Bearer abc", None),
        ("Basic", None),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic " + base64.b64encode(b"u:a\0b").decode(), None),
        ("", None),
    ],
)
def test_parse_basic(text: str, expected: Any) -> None:
    assert _parse_basic(text) == expected


class CountingBcrypt:
    def __init__(self) -> None:
        self.calls = 0

    def checkpw(self, password: bytes, hashed: bytes) -> bool:
        self.calls += 1
        return bool(bcrypt.checkpw(password, hashed))


def test_basic_auth_checks_and_caches_only_successes() -> None:
    auth = BasicAuth({"alice": fast_hash("right"), "bob": fast_hash("other")})
    counting = CountingBcrypt()
    auth._bcrypt = counting  # type: ignore[assignment]
    assert auth.check(header("alice", "right"))
    assert auth.check(header("alice", "right"))
    assert counting.calls == 1  # the second request was answered from the cache
    for _ in range(3):
        assert not auth.check(header("alice", "wrong"))
    assert counting.calls == 4  # failures are never cached
    assert not auth.check(header("mallory", "right"))  # unknown user: still a bcrypt check
    assert counting.calls == 5
    assert not auth.check(header("bob", "right"))  # alice's cached password is not bob's
    assert auth.check(header("bob", "other"))
    assert auth.check(header("alice", "right"))
    assert counting.calls == 7


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems(path: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    return [str(p) for p in caught.value.problems]


def test_empty_web_config_means_plain_http(tmp_path: Path) -> None:
    security = load_web_config(write(tmp_path / "web.yml", ""))
    assert security.ssl_context is None and security.auth is None


def test_basic_auth_users_are_validated_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "web.yml",
        f"basic_auth_users:\n  ok: '{fast_hash('x')}'\n  plain: hunter2\n  'a:b': '{fast_hash('y')}'\n",
    )
    found = problems(path)
    assert any(f"{path}:3: basic_auth_users.plain: not a bcrypt hash" in p for p in found), found
    assert any(f"{path}:4: basic_auth_users.a:b: a user name has no ':'" in p for p in found), found
    assert not any("hunter2" in p for p in found)


def test_tls_section_is_validated_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "web.yml",
        "tls_server_config:\n  cert_file: c.pem\n  min_version: TLS10\n  typo: 1\n",
    )
    found = problems(path)
    assert any(f"{path}:3: tls_server_config.min_version: must be one of" in p for p in found)
    assert any(f"{path}:4: tls_server_config.typo: unknown key" in p for p in found), found
    path = write(tmp_path / "web.yml", "tls_server_config:\n  client_ca_file: ca.pem\n")
    found = problems(path)
    assert any("tls_server_config.cert_file: required" in p for p in found), found
    assert any("tls_server_config.key_file: required" in p for p in found), found


def test_web_config_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    write(tmp_path / "web.yml", f"basic_auth_users:\n  u: '{fast_hash('p')}'\n")
    config = Config(http=HttpSection(web_config_file="web.yml"))
    security = load_security(config, str(tmp_path / "config.yaml"))
    assert security.auth is not None and security.source == str(tmp_path / "web.yml")
    with pytest.raises(ConfigError) as caught:
        load_security(Config(http=HttpSection(web_config_file="missing.yml")), str(tmp_path / "c"))
    assert "http.web_config_file: cannot read" in str(caught.value)
    assert load_security(Config(), None).auth is None
