"""The real CLI as a subprocess: serving, reload on SIGHUP (good and bad), SIGTERM, systemd's
notify protocol, check-config and collect."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest
import yaml

from tests.helpers.agentproc import running_agent
from tests.helpers.cli import check_config, run_cli
from tests.helpers.wait import wait_for
from tests.promtext import parse as parse_metrics


def metric_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_serves_metrics_health_and_readiness() -> None:
    with running_agent({}) as agent:
        status, body = agent.get("/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = agent.get("/readyz")
        assert status == 200 and json.loads(body)["status"] == "ready"
        text = agent.metrics()
        assert 'aiops_agent_build_info{version="0.1.0"' in text
        assert "node_cpu_seconds_total{" in text
        assert agent.get("/nope")[0] == 404
        raw = socket.create_connection(("127.0.0.1", agent.port), timeout=5)
        raw.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 405 ")
        raw.close()


def test_scrapes_never_trigger_collection() -> None:
    with running_agent({"agent": {"interval": "5s"}}) as agent:
        before = metric_value(agent.metrics(), "aiops_agent_collections_total")
        for _ in range(50):
            agent.metrics()
        assert metric_value(agent.metrics(), "aiops_agent_collections_total") - before <= 1


def test_gzip_when_asked() -> None:
    import gzip

    with running_agent({}) as agent:
        status, body = agent.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert status == 200
        assert b"node_load1" in gzip.decompress(body)


def test_sighup_applies_a_good_config_in_place() -> None:
    with running_agent({"agent": {"interval": "1s"}}) as agent:
        config = yaml.safe_load(agent.config_path.read_text())
        config["agent"]["interval"] = "2s"
        agent.write_config(config)
        pid = agent.pid
        agent.send_signal(signal.SIGHUP)
        wait_for(
            lambda: metric_value(agent.metrics(), "aiops_agent_collection_interval_seconds") == 2,
            "the reloaded interval",
        )
        assert agent.alive() and agent.pid == pid
        assert metric_value(agent.metrics(), "aiops_agent_config_last_reload_successful") == 1


def test_sighup_with_a_broken_config_keeps_the_old_one() -> None:
    with running_agent({"agent": {"interval": "1s"}}) as agent:
        agent.config_path.write_text("agent:\n  interval: 1s\n  bogus_key: 1\n")
        agent.send_signal(signal.SIGHUP)
        wait_for(
            lambda: metric_value(agent.metrics(), "aiops_agent_config_last_reload_successful") == 0,
            "the rejected reload",
        )
        assert agent.alive()
        assert metric_value(agent.metrics(), "aiops_agent_collection_interval_seconds") == 1
        assert agent.get("/healthz")[0] == 200
        records = [r for r in agent.log_records() if r.get("level") == "error"]
        assert any(
            "reload rejected" in r["msg"] and "agent.bogus_key" in r["errors"] for r in records
        )


def test_sigterm_stops_cleanly_and_promptly() -> None:
    """SIGTERM wakes the loop: with an hour between collections, an agent that waited for the
    next tick would miss the (generous) deadline below by far."""
    with running_agent({"agent": {"interval": "1h"}}) as agent:
        agent.send_signal(signal.SIGTERM)
        assert agent.process.wait(120) == 0
        assert any(r.get("msg") == "agent stopped" for r in agent.log_records())


def test_systemd_notify_protocol(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(10)
    messages: list[str] = []

    def receive_until(state: str) -> None:
        while True:
            message = listener.recv(4096).decode()
            messages.append(message)
            if state in message.split("\n"):
                return

    try:
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}
        with running_agent({"agent": {"interval": "1s"}}, env=env) as agent:
            receive_until("READY=1")
            receive_until("WATCHDOG=1")
            agent.send_signal(signal.SIGHUP)
            receive_until("RELOADING=1")
            receive_until("READY=1")
            agent.send_signal(signal.SIGTERM)
            receive_until("STOPPING=1")
    finally:
        listener.close()
    first_ready = next(i for i, m in enumerate(messages) if "READY=1" in m.split("\n"))
    reloading = next(i for i, m in enumerate(messages) if "RELOADING=1" in m.split("\n"))
    assert first_ready < reloading
    assert any(line.startswith("MONOTONIC_USEC=") for line in messages[reloading].split("\n"))


def test_abstract_notify_socket_is_supported() -> None:
    from aiops_agent.systemd import Notifier

    name = f"aiops-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.settimeout(5)
    try:
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert listener.recv(100) == b"READY=1"
    finally:
        listener.close()


def test_check_config_accepts_valid_and_rejects_broken(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("agent:\n  interval: 30s\n")
    result = check_config(good)
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  listen: nowhere\n  max_conections: 3\n")
    result = check_config(bad)
    assert result.returncode == 2
    assert f"{bad}:2: http.listen:" in result.stderr
    assert (
        f"{bad}:3: http.max_conections: unknown key; did you mean 'max_connections'?"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    missing = check_config(tmp_path / "missing.yaml")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_collect_once_in_both_formats(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("{}\n")
    prom = run_cli("collect", "--once", "--config", str(config))
    assert prom.returncode == 0, prom.stderr
    families = parse_metrics(prom.stdout)
    assert "node_load1" in families
    as_json = run_cli("collect", "--once", "--format", "json", "--config", str(config))
    document = json.loads(as_json.stdout)
    assert {f["name"] for f in document} >= {"node_load1", "node_memory_MemTotal_bytes"}


def test_version() -> None:
    result = run_cli("--version")
    assert result.stdout.strip() == "aiops-agent 0.1.0"


def test_check_health_command() -> None:
    with running_agent({}) as agent:
        ok = run_cli("check-health", "--url", agent.url + "/healthz")
        assert ok.returncode == 0
    down = run_cli("check-health", "--url", agent.url + "/healthz", "--timeout", "1")
    assert down.returncode == 1


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "[::1]:0"])
def test_listens_on_ipv4_and_ipv6_loopback(listen: str) -> None:
    if listen.startswith("[") and not socket.has_ipv6:
        pytest.fail("IPv6 is required on CI machines")
    with running_agent({"http": {"listen": listen}}) as agent:
        assert agent.get("/healthz")[0] == 200
