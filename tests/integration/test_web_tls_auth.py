"""TLS and basic auth on the agent's endpoints (http.web_config_file, exporter-toolkit's format):
Prometheus scrapes through both; requests without or with wrong credentials get 401; TLS below
the configured minimum, plain HTTP and missing client certificates are refused; a stalled
handshake does not hold up other clients; verified passwords are cached; SIGHUP re-reads the
file; check-config reports mistakes with file and line."""

from __future__ import annotations

import base64
import http.client
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import bcrypt
import pytest
import yaml

from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.certs import Pki, make_pki
from tests.helpers.cli import check_config, run_cli
from tests.helpers.prometheus import running_prometheus

pytestmark = pytest.mark.integration

USER, PASSWORD = "prometheus", "correct horse battery staple"


def bcrypt_hash(password: str, cost: int = 10) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def still_open(connection: socket.socket) -> bool:
    """True while the server has neither closed nor reset the connection (nothing to read yet)."""
    connection.setblocking(False)
    try:
        return connection.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        connection.setblocking(True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def write_web_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def tls_section(pki: Pki, **extra: str) -> dict[str, str]:
    return {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key), **extra}


def client_context(
    pki: Pki, maximum: Optional[ssl.TLSVersion] = None, client_cert: bool = False
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if maximum is not None:
        context.maximum_version = maximum
    if client_cert:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def https_get(
    agent: AgentProcess,
    path: str,
    context: ssl.SSLContext,
    headers: Optional[dict[str, str]] = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPSConnection(
        "127.0.0.1", agent.port, context=context, timeout=timeout
    )
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def secured_agent(pki: Pki, tmp_path: Path) -> Iterator[AgentProcess]:
    web = write_web_config(
        tmp_path / "web.yml",
        {"tls_server_config": tls_section(pki), "basic_auth_users": {USER: bcrypt_hash(PASSWORD)}},
    )
    config = {"http": {"web_config_file": str(web)}}
    with running_agent(config, auth=(USER, PASSWORD)) as agent:
        yield agent


def test_prometheus_scrapes_over_tls_with_basic_auth(pki: Pki, secured_agent: AgentProcess) -> None:
    target = {"static_configs": [{"targets": [f"127.0.0.1:{secured_agent.port}"]}]}
    tls = {"ca_file": str(pki.ca)}
    jobs = [
        {
            "job_name": "secure",
            "scheme": "https",
            "tls_config": tls,
            "basic_auth": {"username": USER, "password": PASSWORD},
            **target,
        },
        {
            "job_name": "wrong-password",
            "scheme": "https",
            "tls_config": tls,
            "basic_auth": {"username": USER, "password": "wrong"},
            **target,
        },
        {"job_name": "no-auth", "scheme": "https", "tls_config": tls, **target},
        {"job_name": "plain-http", **target},
    ]
    with running_prometheus(jobs, scrape_interval="2s") as prom:
        prom.wait_for('up{job="secure"} == 1')
        loads = prom.wait_for('node_load1{job="secure"}')
        assert len(loads) == 1
        prom.wait_for(
            'up{job=~"wrong-password|no-auth|plain-http"} == 0', lambda r: len(r) == 3, timeout=30
        )
        errors = {t["labels"]["job"]: t["lastError"] for t in prom.targets()}
        print(f"\nprometheus target errors: {errors}")
        assert "401" in errors["wrong-password"] and "401" in errors["no-auth"]
        assert errors["plain-http"]  # TLS record expected; the scrape fails
        assert errors["secure"] == ""
        assert PASSWORD not in secured_agent.stderr_text()


def test_requests_without_valid_credentials_get_401(pki: Pki, secured_agent: AgentProcess) -> None:
    context = client_context(pki)
    for path in ("/metrics", "/", "/nonexistent", "/api/v1/alerts"):
        status, headers, body = https_get(secured_agent, path, context)
        assert status == 401, (path, status)
        assert headers["WWW-Authenticate"].startswith("Basic realm=")
        assert b"node_" not in body
    for headers in (
        basic(USER, "wrong"),
        basic("nobody", PASSWORD),
        basic(USER, PASSWORD + "x"),
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(f"{USER}:a\0b".encode()).decode()},
    ):
        assert https_get(secured_agent, "/metrics", context, headers)[0] == 401, headers
    status, _, body = https_get(secured_agent, "/metrics", context, basic(USER, PASSWORD))
    assert status == 200 and b"node_load1" in body


def test_health_probes_need_no_credentials_unless_configured(pki: Pki, tmp_path: Path) -> None:
    """Kubelet and systemd probes carry no credentials; http.health_without_auth (default true)
    leaves exactly /healthz and /readyz open."""
    web = write_web_config(
        tmp_path / "web.yml",
        {
            "tls_server_config": tls_section(pki),
            "basic_auth_users": {USER: bcrypt_hash(PASSWORD, 4)},
        },
    )
    context = client_context(pki)
    with running_agent({"http": {"web_config_file": str(web)}}, auth=(USER, PASSWORD)) as agent:
        for path in ("/healthz", "/readyz"):
            assert https_get(agent, path, context)[0] == 200, path
        assert https_get(agent, "/metrics", context)[0] == 401
        assert https_get(agent, "/healthz?x", context)[0] == 200
    closed = {"http": {"web_config_file": str(web), "health_without_auth": False}}
    with running_agent(closed, auth=(USER, PASSWORD)) as agent:
        for path in ("/healthz", "/readyz"):
            assert https_get(agent, path, context)[0] == 401, path


def test_check_health_speaks_https_when_tls_is_on(pki: Pki, tmp_path: Path) -> None:
    """check-health without --url, as a container HEALTHCHECK runs it with the agent's own config:
    the URL comes from http.listen, and from the web config whether it is https."""
    web = write_web_config(tmp_path / "web.yml", {"tls_server_config": tls_section(pki)})
    with running_agent({"http": {"web_config_file": str(web)}}) as agent:
        probe_config = tmp_path / "probe.yaml"
        probe_config.write_text(
            yaml.safe_dump(
                {"http": {"listen": f"127.0.0.1:{agent.port}", "web_config_file": str(web)}}
            ),
            encoding="utf-8",
        )
        result = run_cli("check-health", "--config", str(probe_config), "--timeout", "10")
        assert result.returncode == 0, result.stderr


def test_tls_version_floor_plain_http_and_stalled_handshakes(pki: Pki, tmp_path: Path) -> None:
    web = write_web_config(tmp_path / "web.yml", {"tls_server_config": tls_section(pki)})
    patient = {"http": {"web_config_file": str(web), "request_timeout": "300s"}}
    with running_agent(patient) as agent:
        ok = https_get(agent, "/readyz", client_context(pki, maximum=ssl.TLSVersion.TLSv1_2))
        assert ok[0] == 200
        # Plain HTTP to the TLS port: no HTTP answer, and the server carries on.
        with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as raw:
            raw.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not raw.recv(4096).startswith(b"HTTP/")
        # Stalled handshakes: connections that send nothing must not hold up other clients. The
        # server gives a handshake request_timeout (300 s here), far longer than this client
        # waits: the request can only succeed if no stalled handshake stands in its way.
        stalled = [socket.create_connection(("127.0.0.1", agent.port)) for _ in range(8)]
        try:
            assert https_get(agent, "/readyz", client_context(pki), timeout=60)[0] == 200
            assert all(still_open(connection) for connection in stalled)
        finally:
            for connection in stalled:
                connection.close()

    web = write_web_config(
        tmp_path / "web13.yml", {"tls_server_config": tls_section(pki, min_version="TLS13")}
    )
    with running_agent({"http": {"web_config_file": str(web)}}) as agent:
        with pytest.raises(ssl.SSLError):
            https_get(agent, "/readyz", client_context(pki, maximum=ssl.TLSVersion.TLSv1_2))
        assert https_get(agent, "/readyz", client_context(pki))[0] == 200


def test_client_certificates_when_required(pki: Pki, tmp_path: Path) -> None:
    web = write_web_config(
        tmp_path / "web.yml",
        {
            "tls_server_config": tls_section(
                pki, client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(pki.ca)
            )
        },
    )
    with running_agent({"http": {"web_config_file": str(web)}}, wait_ready=False) as agent:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            # TLS 1.3 reports a missing client certificate only when the client reads.
            https_get(agent, "/readyz", client_context(pki))
        deadline = time.monotonic() + 30
        while https_get(agent, "/readyz", client_context(pki, client_cert=True))[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def auth_checks(agent: AgentProcess) -> dict[str, float]:
    """aiops_agent_http_basic_auth_checks_total by result, as of the latest collection."""
    prefix = "aiops_agent_http_basic_auth_checks_total{"
    found = {}
    for line in agent.metrics().splitlines():
        if line.startswith(prefix):
            labels, value = line[len(prefix) :].split("} ")
            found[labels.split('"')[1]] = float(value)
    return found


def test_verified_passwords_are_cached(pki: Pki, tmp_path: Path) -> None:
    """bcrypt runs once per user and password, not once per request: the agent counts its checks
    by result, so the cache is proven by what it did, not by how fast it was."""
    web = write_web_config(
        tmp_path / "web.yml",
        {"tls_server_config": tls_section(pki), "basic_auth_users": {USER: bcrypt_hash(PASSWORD)}},
    )
    config = {"agent": {"interval": "1s"}, "http": {"web_config_file": str(web)}}
    with running_agent(config, auth=(USER, PASSWORD)) as agent:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", agent.port, context=client_context(pki), timeout=30
        )
        count = 20
        for _ in range(count):
            connection.request("GET", "/metrics", headers=basic(USER, PASSWORD))
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        connection.request("GET", "/metrics", headers=basic(USER, "wrong"))
        response = connection.getresponse()
        response.read()
        assert response.status == 401
        connection.close()
        # The page is rendered once per collection: wait until it includes the requests above.
        deadline = time.monotonic() + 30
        while (checks := auth_checks(agent)).get("rejected", 0) < 1:
            assert time.monotonic() < deadline, f"auth checks not counted: {checks}"
            time.sleep(0.2)
    print(f"\nbasic-auth checks after {count} authenticated requests: {checks}")
    assert checks["verified"] == 1, checks  # one bcrypt check; every later request hit the cache
    assert checks["cached"] >= count - 1, checks
    assert checks["rejected"] == 1, checks  # a wrong password is never served from the cache


def test_sighup_rereads_the_web_config(pki: Pki, tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    write_web_config(
        web, {"tls_server_config": tls_section(pki), "basic_auth_users": {USER: bcrypt_hash("one")}}
    )
    context = client_context(pki)
    with running_agent({"http": {"web_config_file": str(web)}}, auth=(USER, "one")) as agent:
        assert https_get(agent, "/metrics", context, basic(USER, "one"))[0] == 200
        write_web_config(
            web,
            {"tls_server_config": tls_section(pki), "basic_auth_users": {USER: bcrypt_hash("two")}},
        )
        agent.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while https_get(agent, "/metrics", context, basic(USER, "one"))[0] != 401:
            assert time.monotonic() < deadline, "the new password file was not applied"
            time.sleep(0.2)
        assert https_get(agent, "/metrics", context, basic(USER, "two"))[0] == 200

        # A broken web config on reload: rejected, and the previous settings stay in effect.
        web.write_text("tls_server_config:\n  cert_file: /nonexistent.pem\n", encoding="utf-8")
        agent.send_signal(signal.SIGHUP)
        agent.auth = (USER, "two")
        deadline = time.monotonic() + 15
        while "aiops_agent_config_last_reload_successful 0" not in agent.metrics():
            assert time.monotonic() < deadline, "the broken web config was not rejected"
            time.sleep(0.2)
        assert https_get(agent, "/metrics", context, basic(USER, "two"))[0] == 200
        rejected = [
            r for r in agent.log_records() if r.get("msg", "").startswith("reload rejected")
        ]
        assert rejected and "tls_server_config" in rejected[-1]["errors"], rejected


def test_check_config_reports_web_config_mistakes(pki: Pki, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("http:\n  web_config_file: web.yml\n", encoding="utf-8")  # relative
    web = tmp_path / "web.yml"
    cases = {
        # content: (line, text expected in the message)
        "tls_server_config:\n  cert_file: a.pem\n  key_file: b.pem\n  min_version: TLS11\n": (
            4,
            "tls_server_config.min_version: must be one of TLS12, TLS13",
        ),
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n": (
            2,
            "tls_server_config.cert_file: cannot read missing.pem",
        ),
        f"tls_server_config:\n  cert_file: {pki.server_key}\n  key_file: {pki.server_key}\n": (
            2,
            "no PEM block ending in CERTIFICATE",
        ),
        f"tls_server_config:\n  cert_file: {pki.server_cert}\n": (
            1,
            "tls_server_config.key_file: required",
        ),
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n": (
            4,
            "tls_server_config.cipher_suites: unknown key",
        ),
        "basic_auth_users:\n  alice: hunter2\n": (2, "basic_auth_users.alice: not a bcrypt hash"),
        "basic_auth_users:\n  alice: [1]\n": (2, "basic_auth_users.alice: expected a string"),
        "tls_server_config: [\n": (2, "invalid YAML"),
        "tls_server_config:\n  client_auth_type: RequireAnyClientCert\n": (
            2,
            "RequireAnyClientCert is not supported",
        ),
    }
    for content, (line, expected) in cases.items():
        web.write_text(content, encoding="utf-8")
        result = check_config(config)
        assert result.returncode == 2, (content, result.stderr)
        assert f"{web}:{line}: " in result.stderr and expected in result.stderr, (
            content,
            result.stderr,
        )
        assert "Traceback" not in result.stderr
        assert "hunter2" not in result.stderr
    web.unlink()
    result = check_config(config)
    assert result.returncode == 2
    assert f"{web}: http.web_config_file: cannot read" in result.stderr, result.stderr

    web.write_text("", encoding="utf-8")  # empty: plain HTTP, like exporter-toolkit
    assert check_config(config).returncode == 0


def test_missing_bcrypt_is_a_clear_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "no-bcrypt" / "bcrypt"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('bcrypt blocked by the test')\n")
    web = write_web_config(tmp_path / "web.yml", {"basic_auth_users": {USER: bcrypt_hash("x", 4)}})
    config = tmp_path / "config.yaml"
    config.write_text(f"http:\n  web_config_file: {web}\n", encoding="utf-8")
    result = check_config(config, env={"PYTHONPATH": str(blocker.parent)})
    assert result.returncode == 2, result.stderr
    assert "basic_auth_users: needs the bcrypt package" in result.stderr
    assert "aiops-agent[web]" in result.stderr
    assert "Traceback" not in result.stderr
