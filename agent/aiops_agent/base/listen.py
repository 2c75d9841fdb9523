"""The address the agent listens on (http.listen), parsed once when the config is loaded, and the
names others reach it by: the HTTP server binds it, check-health calls it, alerts carry it as
their instance label and notifications link back to it."""

from __future__ import annotations

from typing import NamedTuple

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1, an IPv4-mapped loopback address (::ffff:127.0.0.1, what a dual-stack
    socket reports for an IPv4 client) or localhost. Textual, without ipaddress (an import every
    host would pay for); any other spelling counts as not loopback, the safe side."""
    host = host.lower()
    return host in ("localhost", "::1") or host.startswith(("127.", "::ffff:127."))


class ListenAddress(NamedTuple):
    host: str  # without IPv6 brackets; "" (or 0.0.0.0, ::) for every address
    port: int  # 0: the kernel picks one when the server binds

    @classmethod
    def parse(cls, text: str) -> ListenAddress:
        """Parse HOST:PORT, an IPv6 host in brackets ([::1]:9877); raises ValueError for a user."""
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9877 or [::1]:9877)")
        if host.startswith("["):
            if not host.endswith("]"):
                raise ValueError(f"{text!r}: unbalanced brackets around the IPv6 address")
            host = host[1:-1]
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"{text!r}: port must be a number from 0 to 65535")
        return cls(host, int(port_text))

    def __str__(self) -> str:
        return f"{_bracketed(self.host)}:{self.port}"

    @property
    def is_wildcard(self) -> bool:
        return self.host in WILDCARD_HOSTS

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def authority(self, hostname: str) -> str:
        """HOST:PORT as other hosts name this listener: a wildcard or loopback host is replaced
        by this host's name (from elsewhere, 127.0.0.1 is their own machine). Port 0, which the
        kernel replaces at bind time, gives the name alone, which stays the same across
        restarts."""
        host = hostname if self.is_wildcard or self.is_loopback else self.host
        return _bracketed(host) if self.port == 0 else f"{_bracketed(host)}:{self.port}"

    def public_url(self, *, tls: bool, hostname: str) -> str:
        """The agent's base URL for links in notifications."""
        return f"{'https' if tls else 'http'}://{self.authority(hostname)}"

    def local_url(self, *, tls: bool) -> str:
        """The base URL from this host (check-health): a wildcard host is reached on loopback."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"{'https' if tls else 'http'}://{_bracketed(host)}:{self.port}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
