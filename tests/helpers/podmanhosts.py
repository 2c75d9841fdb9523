"""Systemd containers for system tests, the way scripts/fleet.sh and Molecule run them: the
project's Debian image (scripts/build-images.sh), podman's settings for this machine
(scripts/podman-env.sh), an internal network of the test's own, and an address of the host on that
network's bridge so a container can reach a service the test runs on the host, and nothing
beyond."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("AIOPS_IMAGE", "localhost/aiops-debian-systemd")


def podman_environment() -> dict[str, str]:
    """The environment scripts/podman-env.sh sets up (runc and ulimits where this host needs them)."""
    script = f"source {ROOT / 'scripts' / 'podman-env.sh'} && env -0"
    output = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    return dict(line.split("=", 1) for line in output.split("\0") if "=" in line)


class PodmanHosts:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.network = f"{prefix}-net"
        self.names: list[str] = []
        self.env = podman_environment()

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        result = subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def sh(self, host: str, script: str, check: bool = True) -> str:
        return self.run("exec", host, "sh", "-c", script, check=check)

    def build_image(self, suite: str = "bookworm") -> str:
        subprocess.run(
            [str(ROOT / "scripts" / "build-images.sh"), suite],
            check=True,
            env=self.env,
            timeout=900,
            capture_output=True,
        )
        return f"{IMAGE}:{suite}"

    def start(self, names: list[str], image: str, *extra: str) -> None:
        """Boot systemd containers on an internal network (no route beyond this machine)."""
        self.run(
            "network", "create", "--internal", "--label", "io.aiops-agent.test=1", self.network
        )
        for name in names:
            self.run(
                "run", "-d", "--name", name, "--hostname", name, "--network", self.network,
                "--label", "io.aiops-agent.test=1", "--systemd=always", "--cap-add", "SYS_ADMIN",
                *extra, image, "/sbin/init",
            )  # fmt: skip
            self.names.append(name)
        deadline = time.monotonic() + 120
        for name in names:
            while self.sh(name, "systemctl is-system-running", check=False).strip() not in (
                "running",
                "degraded",
            ):
                assert time.monotonic() < deadline, f"{name} did not finish booting"
                time.sleep(0.5)

    def host_address(self) -> str:
        """An address of this machine on the network's bridge. An internal CNI network gives its
        bridge none, so the last address of the subnet is added (it goes with the network)."""
        interface = self.run(
            "network", "inspect", "--format", "{{.NetworkInterface}}", self.network
        )
        subnet = self.run(
            "network", "inspect", "--format", "{{range .Subnets}}{{.Subnet}}{{end}}", self.network
        )
        network = ipaddress.ip_network(subnet.strip())
        interface = interface.strip()
        shown = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "dev", interface],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        for word in shown.split():
            if "/" in word:
                try:
                    address = ipaddress.ip_interface(word)
                except ValueError:
                    continue
                if address.ip in network:
                    return str(address.ip)
        address = network.broadcast_address - 1
        subprocess.run(
            ["ip", "addr", "add", f"{address}/{network.prefixlen}", "dev", interface], check=True
        )
        return str(address)

    def remove(self) -> None:
        if self.names:
            self.run("rm", "-f", "-t", "2", *self.names, check=False)
        self.run("network", "rm", "-f", self.network, check=False)
