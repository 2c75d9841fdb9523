"""The web config file (http.web_config_file): its schema, in Prometheus exporter-toolkit's format
(tls_server_config, basic_auth_users), and the checks across its keys that need no file. Reading
the certificates and building the TLS context and basic auth is webconfig.py's part."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from aiops_agent.config.keys import key
from aiops_agent.config.loader import SchemaFile

TLS_VERSIONS = ("TLS12", "TLS13")  # oldest first
# exporter-toolkit's names. Python's ssl cannot ask for a client certificate without verifying
# it, so the two "accept any certificate" modes are refused at load rather than silently verified.
CLIENT_AUTH = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: str = key("", "Server certificate (PEM, chain allowed); relative to this file.")
    key_file: str = key("", "Its private key (PEM, unencrypted); relative to this file.")
    client_auth_type: str = key(
        "",
        "NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert. Empty: "
        "RequireAndVerifyClientCert when client_ca_file is set, else NoClientCert.",
        choices=("", *CLIENT_AUTH, *UNVERIFIED_CLIENT_AUTH),
    )
    client_ca_file: str = key("", "CA bundle (PEM) that client certificates must chain to.")
    min_version: str = key("TLS12", "Oldest TLS version accepted.", choices=TLS_VERSIONS)
    max_version: str = key(
        "", "Newest TLS version accepted; empty: the newest.", choices=("", *TLS_VERSIONS)
    )

    @property
    def client_auth(self) -> str:
        """The client_auth_type in effect."""
        if self.client_auth_type:
            return self.client_auth_type
        return "RequireAndVerifyClientCert" if self.client_ca_file else "NoClientCert"


@dataclass(frozen=True)
class WebConfigFile:
    tls_server_config: Optional[TlsServerConfig] = key(None, "Serve HTTPS instead of HTTP.")
    basic_auth_users: dict[str, str] = key(
        factory=dict, doc="User name to bcrypt hash of the password (htpasswd -nBC 10 USER)."
    )


def read_web_config(path: str) -> SchemaFile[WebConfigFile]:
    """The file checked against the schema and its TLS section across its keys, every problem
    collected; the caller adds its own (check_users among them) and raises them."""
    document = SchemaFile(path, WebConfigFile)
    tls = document.value.tls_server_config if document.value is not None else None
    if tls is not None and not document.problems:
        _check_tls(tls, document)
    return document


def _check_tls(tls: TlsServerConfig, document: SchemaFile[WebConfigFile]) -> None:
    def fail(name: str, message: str) -> None:
        document.report(("tls_server_config", name), message)

    for name in ("cert_file", "key_file"):
        if not getattr(tls, name):
            fail(name, "required when tls_server_config is given")
    if tls.client_auth in UNVERIFIED_CLIENT_AUTH:
        fail(
            "client_auth_type",
            f"{tls.client_auth} is not supported (Python's TLS cannot accept a client certificate "
            "without verifying it); use VerifyClientCertIfGiven or RequireAndVerifyClientCert "
            "with client_ca_file",
        )
        return
    if tls.client_auth != "NoClientCert" and not tls.client_ca_file:
        fail("client_auth_type", f"{tls.client_auth} needs client_ca_file")
    if tls.max_version and TLS_VERSIONS.index(tls.max_version) < TLS_VERSIONS.index(
        tls.min_version
    ):
        fail("max_version", "is older than min_version")


def check_users(document: SchemaFile[WebConfigFile]) -> None:
    """The users' names and hashes, from the file as read, so they are checked even when another
    key is wrong (the schema only says the hashes are strings)."""
    users = document.raw.get("basic_auth_users")
    if not isinstance(users, dict):
        return
    for user, hashed in users.items():
        path = ("basic_auth_users", str(user))
        if isinstance(hashed, str) and not _BCRYPT_HASH.match(hashed):
            # The value is not shown: a hash pasted in the wrong place may be a password.
            document.report(path, "not a bcrypt hash (generate one with: htpasswd -nBC 10 USER)")
        if ":" in str(user):
            document.report(path, "a user name has no ':'")
