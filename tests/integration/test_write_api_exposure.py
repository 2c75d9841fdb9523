"""The write endpoints (POST and DELETE /api/v1/silences) on a listener other hosts can reach, with
real agent processes reached through this host's non-loopback address (tests/helpers/hostaddr.py:
the traffic stays on this machine, but the agent sees a peer that is not loopback):

* without auth they answer 403 with a message saying how to enable them, and create or expire
  nothing (the silence store is the same, also after a restart); reads keep working; a loopback
  caller may still write, unless a proxy header says the request was relayed;
* with basic auth they refuse a caller without valid credentials (401) and accept one with them;
  with client certificates, a caller that presents one;
* http.insecure_unauthenticated_writes: true serves them to anyone, with a warning at start and
  at every reload;
* the exposure warning appears exactly once, and again only when a reload changes the exposure;
  aiops_agent_http_exposed says what guards the listener.
"""

from __future__ import annotations

import signal
import ssl
from pathlib import Path
from typing import Any, Optional

import bcrypt
import pytest
import yaml

from tests import promtext
from tests.helpers.agentproc import AgentProcess, running_agent
from tests.helpers.certs import make_pki
from tests.helpers.hostaddr import non_loopback_ipv4
from tests.helpers.silenceapi import SILENCES, basic, call, local, remote, silence
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

EXPOSED_WARNING = "HTTP endpoints exposed to the network without TLS"
INSECURE_WARNING = "http.insecure_unauthenticated_writes is on"
USER, PASSWORD = "sre", "write-pw-5e1d0c7a"


def listed(base: str, **kwargs: Any) -> list[dict[str, Any]]:
    status, body = call(base, "GET", SILENCES, **kwargs)
    assert status == 200, body
    return sorted(body["data"], key=lambda s: str(s["id"]))


def exposed_series(agent: AgentProcess) -> dict[tuple[tuple[str, str], ...], float]:
    families = promtext.parse(agent.metrics())
    family = families["aiops_agent_http_exposed"]
    return {tuple(sorted(s.labels)): s.value for s in family.samples}


def warnings(agent: AgentProcess, prefix: str) -> int:
    return sum(
        1
        for r in agent.log_records()
        if r.get("level") == "warning" and str(r.get("msg", "")).startswith(prefix)
    )


def reloads(agent: AgentProcess) -> int:
    return sum(1 for r in agent.log_records() if r.get("msg") == "configuration reloaded")


def reload(agent: AgentProcess, config: Optional[dict[str, Any]] = None) -> None:
    before = reloads(agent)
    if config is not None:
        agent.write_config(config)
    agent.send_signal(signal.SIGHUP)
    wait_for(lambda: reloads(agent) > before, "the reload")


def test_exposed_listener_refuses_unauthenticated_writes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = {"agent": {"state_dir": str(state)}, "http": {"listen": "0.0.0.0:0"}}
    with running_agent(config) as agent:
        # Over loopback (this host; kubectl port-forward arrives the same way) writes work.
        status, body = call(local(agent), "POST", SILENCES, silence("from this host"))
        assert status == 200, body
        kept = body["data"]["silenceId"]
        before = listed(remote(agent))  # reads keep working from the network
        assert [s["id"] for s in before] == [kept]

        status, body = call(remote(agent), "POST", SILENCES, silence("from the network"))
        assert status == 403, body
        assert "http.web_config_file" in body["error"], body
        assert "http.insecure_unauthenticated_writes" in body["error"], body
        status, body = call(remote(agent), "DELETE", f"{SILENCES}?id={kept}")
        assert status == 403, body
        # A header naming loopback does not make a network caller local...
        spoofed = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
        status, body = call(remote(agent), "POST", SILENCES, silence("spoofed"), spoofed)
        assert status == 403, body
        # ...and a loopback caller that a proxy on this host relayed is not local either.
        relayed = {"X-Forwarded-For": "198.51.100.7"}
        status, body = call(local(agent), "POST", SILENCES, silence("relayed"), relayed)
        assert status == 403, body
        status, body = call(local(agent), "DELETE", f"{SILENCES}?id={kept}", headers=relayed)
        assert status == 403, body
        assert listed(remote(agent)) == before
        assert exposed_series(agent) == {
            (("auth", "none"), ("tls", "false"), ("unauthenticated_writes", "false")): 1.0
        }
    with running_agent(config) as agent:  # the same state directory after a restart
        assert listed(remote(agent)) == before
        assert [s["status"]["state"] for s in before] == ["active"]
    print(f"\nfrom {non_loopback_ipv4()}: POST and DELETE {SILENCES} answered 403; store unchanged")


def test_ipv6_loopback_and_ipv4_mapped_peers_are_local(tmp_path: Path) -> None:
    """On a dual-stack [::] listener, ::1 and an IPv4 client over loopback (seen as
    ::ffff:127.0.0.1) are local; this host's IPv4 address (::ffff:192.0.2.2, say) is not."""
    with running_agent({"http": {"listen": "[::]:0"}}) as agent:
        status, body = call(f"http://[::1]:{agent.port}", "POST", SILENCES, silence("::1"))
        assert status == 200, body
        status, body = call(local(agent), "POST", SILENCES, silence("mapped"))
        assert status == 200, body
        status, body = call(remote(agent), "POST", SILENCES, silence("network"))
        assert status == 403, body
        assert {s["comment"] for s in listed(local(agent))} == {"::1", "mapped"}


def test_basic_auth_allows_writes_with_credentials(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}), encoding="utf-8")
    config = {"http": {"listen": "0.0.0.0:0", "web_config_file": str(web)}}
    with running_agent(config, auth=(USER, PASSWORD)) as agent:
        base, good = remote(agent), basic(USER, PASSWORD)
        for headers in ({}, basic(USER, "wrong"), basic("nobody", PASSWORD)):
            status, body = call(base, "POST", SILENCES, silence("no"), headers)
            assert status == 401, (headers, body)
        assert listed(base, headers=good) == []
        status, body = call(base, "POST", SILENCES, silence("with credentials"), good)
        assert status == 200, body
        created = body["data"]["silenceId"]
        status, body = call(base, "DELETE", f"{SILENCES}?id={created}")
        assert status == 401, body
        status, body = call(base, "DELETE", f"{SILENCES}?id={created}", headers=good)
        assert status == 200, body
        assert [s["status"]["state"] for s in listed(base, headers=good)] == ["expired"]
        assert exposed_series(agent) == {
            (("auth", "basic"), ("tls", "false"), ("unauthenticated_writes", "false")): 1.0
        }


def test_client_certificate_authenticates_writes(tmp_path: Path) -> None:
    """With client certificates optional, a caller from the network that presents a verified one
    may write; one without reads only."""
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    tls = {
        "cert_file": str(pki.server_cert),
        "key_file": str(pki.server_key),
        "client_ca_file": str(pki.ca),
        "client_auth_type": "VerifyClientCertIfGiven",
    }
    web.write_text(yaml.safe_dump({"tls_server_config": tls}), encoding="utf-8")
    config = {"http": {"listen": "0.0.0.0:0", "web_config_file": str(web)}}
    anonymous = ssl.create_default_context(cafile=str(pki.ca))
    anonymous.check_hostname = False  # the server certificate names 127.0.0.1, not this address
    certified = ssl.create_default_context(cafile=str(pki.ca))
    certified.check_hostname = False
    certified.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    with running_agent(config) as agent:
        base = remote(agent, "https")
        status, body = call(base, "POST", SILENCES, silence("no cert"), context=anonymous)
        assert status == 403, body
        status, body = call(base, "POST", SILENCES, silence("cert"), context=certified)
        assert status == 200, body
        assert [s["comment"] for s in listed(base, context=anonymous)] == ["cert"]
        assert exposed_series(agent) == {
            (("auth", "none"), ("tls", "true"), ("unauthenticated_writes", "false")): 1.0
        }
        assert warnings(agent, EXPOSED_WARNING) == 0  # TLS is on


def test_insecure_opt_in_serves_writes_and_warns(tmp_path: Path) -> None:
    config = {"http": {"listen": "0.0.0.0:0", "insecure_unauthenticated_writes": True}}
    with running_agent(config) as agent:
        status, body = call(remote(agent), "POST", SILENCES, silence("opted in"))
        assert status == 200, body
        assert [s["comment"] for s in listed(remote(agent))] == ["opted in"]
        assert exposed_series(agent) == {
            (("auth", "none"), ("tls", "false"), ("unauthenticated_writes", "true")): 1.0
        }
        assert warnings(agent, INSECURE_WARNING) == 1
        reload(agent)  # the file unchanged: the warning again, at every reload
        assert warnings(agent, INSECURE_WARNING) == 2
        assert "may create and expire silences" in agent.stderr_text()


def test_exposure_warning_once_and_again_only_when_the_exposure_changes(tmp_path: Path) -> None:
    config = {"agent": {"interval": "1s"}, "http": {"listen": "0.0.0.0:0"}}
    with running_agent(config) as agent:
        assert warnings(agent, EXPOSED_WARNING) == 1
        written = yaml.safe_load(agent.config_path.read_text(encoding="utf-8"))
        reload(agent)  # same config: nothing new to say
        reload(agent)
        assert warnings(agent, EXPOSED_WARNING) == 1
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        web = tmp_path / "web.yml"
        web.write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}), encoding="utf-8")
        written["http"]["web_config_file"] = str(web)
        reload(agent, written)  # still exposed without TLS, now with basic auth: said again
        assert warnings(agent, EXPOSED_WARNING) == 2
        record = [r for r in agent.log_records() if str(r.get("msg")).startswith(EXPOSED_WARNING)]
        assert record[-1]["auth"] == "basic", record
    with running_agent({}) as agent:  # loopback: no warning, the gauge at 0
        assert warnings(agent, EXPOSED_WARNING) == 0
        assert exposed_series(agent) == {
            (("auth", "none"), ("tls", "false"), ("unauthenticated_writes", "false")): 0.0
        }
