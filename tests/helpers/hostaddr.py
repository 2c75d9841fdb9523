"""A non-loopback address of this machine, for tests that must reach the agent "from the network"
without leaving the machine: a connection from here to one of this host's own addresses is routed
through the loopback device by the kernel, yet the agent sees a peer address that is not loopback,
exactly as it would see another host's."""

from __future__ import annotations

import json
import subprocess

import pytest


def non_loopback_ipv4() -> str:
    """The first IPv4 address with global scope on an interface that is up."""
    result = subprocess.run(
        ["ip", "-json", "-4", "address", "show", "up", "scope", "global"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"ip address show failed (iproute2 is in scripts/setup.sh): {result.stderr}")
    for interface in json.loads(result.stdout or "[]"):
        for address in interface.get("addr_info", []):
            if address.get("family") == "inet" and not address["local"].startswith("127."):
                return str(address["local"])
    pytest.fail("this test needs an IPv4 address other than loopback on an interface that is up")
