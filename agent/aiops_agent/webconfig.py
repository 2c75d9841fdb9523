"""TLS and basic auth for the HTTP endpoints, configured like Prometheus' exporter-toolkit: a YAML
web config file (http.web_config_file) with tls_server_config and basic_auth_users, so one file
format serves the agent, node_exporter and Prometheus itself. The file is validated with the
main config's machinery (errors name the key, file and line) and re-read on every reload."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

if TYPE_CHECKING:  # ssl (OpenSSL, ~5 MiB RSS) is imported only when TLS is configured
    import ssl

from aiops_agent.config.errors import ConfigError, Problem

# The loader's YAML reader (size limits, binary junk, line numbers) and schema builder (types,
# unknown keys with suggestions, bounds) are reused so the two files report problems alike.
from aiops_agent.config.loader import _build, _Origins, _read_yaml
from aiops_agent.config.schema import Config

_TLS_VERSIONS = ("TLS12", "TLS13")  # oldest first
# exporter-toolkit's names. Python's ssl cannot ask for a client certificate without verifying
# it, so the two "accept any certificate" modes are refused at load rather than silently verified.
_CLIENT_AUTH = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")
INSTALL_HINT = "pip install 'aiops-agent[web]'"


class AuthResults:
    """Basic-auth checks since the agent started, by result, for
    aiops_agent_http_basic_auth_checks_total. Process-wide because every reload builds a new
    BasicAuth and a counter must not go back to zero."""

    RESULTS = ("cached", "verified", "rejected")

    def __init__(self) -> None:
        self._counts = dict.fromkeys(self.RESULTS, 0)
        self._lock = threading.Lock()

    def count(self, result: str) -> None:
        with self._lock:
            self._counts[result] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


AUTH_RESULTS = AuthResults()


def key(default: Any = None, doc: str = "", *, factory: Any = None, choices: Any = None) -> Any:
    """A web config key, with the metadata the loader's _build checks (choices)."""
    metadata = {"doc": doc, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: str = key("", "Server certificate (PEM, chain allowed); relative to this file.")
    key_file: str = key("", "Its private key (PEM, unencrypted); relative to this file.")
    client_auth_type: str = key(
        "",
        "NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert. Empty: "
        "RequireAndVerifyClientCert when client_ca_file is set, else NoClientCert.",
        choices=("", *_CLIENT_AUTH, *_UNVERIFIED_CLIENT_AUTH),
    )
    client_ca_file: str = key("", "CA bundle (PEM) that client certificates must chain to.")
    min_version: str = key("TLS12", "Oldest TLS version accepted.", choices=_TLS_VERSIONS)
    max_version: str = key(
        "", "Newest TLS version accepted; empty: the newest.", choices=("", *_TLS_VERSIONS)
    )


@dataclass(frozen=True)
class WebConfigFile:
    tls_server_config: Optional[TlsServerConfig] = key(None, "Serve HTTPS instead of HTTP.")
    basic_auth_users: dict[str, str] = key(
        factory=dict, doc="User name to bcrypt hash of the password (htpasswd -nBC 10 USER)."
    )


class BasicAuth:
    """Checks "Authorization: Basic" headers against bcrypt hashes. bcrypt is deliberately slow
    (tens of milliseconds at cost 10), and Prometheus sends the same credentials every scrape, so
    a successful check is remembered per user as a digest of the password and the hash; the next
    request with the same password is verified by one SHA-256 and a constant-time comparison.
    Failures are never cached, and bcrypt runs one call at a time, so a flood of wrong passwords
    costs at most one core and cannot push good entries out."""

    def __init__(self, users: dict[str, str]) -> None:
        import hashlib  # noqa: PLC0415 - like bcrypt, loaded only when auth is configured
        import hmac  # noqa: PLC0415

        import bcrypt  # noqa: PLC0415  # the optional dependency, only when auth is configured

        self._bcrypt = bcrypt
        self._sha256 = hashlib.sha256
        self._compare = hmac.compare_digest
        self._users = {name: hashed.encode("ascii") for name, hashed in users.items()}
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()
        # Unknown users are checked against a hash of the same cost, so the response time does
        # not tell which user names exist.
        cost = max((int(h[4:6]) for h in self._users.values()), default=10)
        self._decoy = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(cost))

    def check(self, header: str) -> bool:
        credentials = _parse_basic(header)
        if credentials is None:
            AUTH_RESULTS.count("rejected")
            return False
        user, password = credentials
        hashed = self._users.get(user)
        digest = self._sha256(b"%s\0%s" % (password, hashed or b"")).digest()
        remembered = self._verified.get(user)
        if hashed is not None and remembered is not None and self._compare(remembered, digest):
            AUTH_RESULTS.count("cached")
            return True
        with self._lock:
            try:
                ok = bool(self._bcrypt.checkpw(password, hashed or self._decoy))
            except ValueError:  # a hash bcrypt cannot parse; load-time checks make this rare
                ok = False
        if ok and hashed is not None:
            self._verified[user] = digest
            AUTH_RESULTS.count("verified")
            return True
        AUTH_RESULTS.count("rejected")
        return False


def _parse_basic(header: str) -> Optional[tuple[str, bytes]]:
    import base64  # noqa: PLC0415 - only with basic auth configured
    import binascii  # noqa: PLC0415

    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    # bcrypt reads at most 72 bytes and rejects NUL bytes; such a password cannot match.
    if b"\0" in password or len(password) > 1024:
        return None
    return user.decode("utf-8", errors="replace"), password


class WebSecurity(NamedTuple):
    """What the HTTP server applies to every connection and request."""

    ssl_context: Optional[ssl.SSLContext]
    auth: Optional[BasicAuth]
    source: str  # the web config file, "" when none
    # Paths served without credentials even when auth is on (health probes).
    open_paths: frozenset[str] = frozenset()

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None


PLAIN = WebSecurity(None, None, "")
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


def web_config_path(config: Config, config_path: Optional[str]) -> str:
    """http.web_config_file, relative paths taken from the main config file's directory."""
    name = config.http.web_config_file
    if not name or os.path.isabs(name) or not config_path:
        return name
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), name)


def load_security(config: Config, config_path: Optional[str]) -> WebSecurity:
    """The WebSecurity for a loaded config; raises ConfigError naming the file, key and line."""
    path = web_config_path(config, config_path)
    if not path:
        return PLAIN
    try:
        security = load_web_config(path)
        if config.http.health_without_auth:
            security = security._replace(open_paths=HEALTH_PATHS)
        return security
    except ConfigError as error:
        # Problems with the file as a whole (unreadable, not YAML) name the key that points to it.
        raise ConfigError(
            [p._replace(path=p.path or "http.web_config_file") for p in error.problems]
        ) from None


def load_web_config(path: str) -> WebSecurity:
    origins = _Origins(path)
    raw: Any = _read_yaml(path, origins)
    if raw is None:  # an empty file: plain HTTP, as with exporter-toolkit
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([Problem("", f"{path}:1", "the top level must be a mapping")])
    problems: list[Problem] = []
    auth: Optional[BasicAuth] = None
    document = _build(WebConfigFile, raw, (), origins, problems)
    # Report every problem in one pass: the users' hashes are checked even when another key is
    # wrong, but certificates are loaded only from a well-formed document.
    context = None
    if isinstance(document, WebConfigFile) and document.tls_server_config and not problems:
        base = os.path.dirname(os.path.abspath(path))
        context = _ssl_context(document.tls_server_config, base, origins, problems)
    users = raw.get("basic_auth_users")
    if isinstance(users, dict):
        wellformed = {k: v for k, v in users.items() if isinstance(v, str)}
        auth = _basic_auth(wellformed, origins, problems)
    if problems:
        raise ConfigError(problems)
    return WebSecurity(context, auth, path)


def _ssl_context(
    tls: TlsServerConfig, base: str, origins: _Origins, problems: list[Problem]
) -> Optional[ssl.SSLContext]:
    def fail(name: str, message: str) -> None:
        path = ("tls_server_config", name) if name else ("tls_server_config",)
        problems.append(Problem(".".join(path), origins.of(path), message))

    def resolve(name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(base, name)

    for name in ("cert_file", "key_file"):
        if not getattr(tls, name):
            fail(name, "required when tls_server_config is given")
    auth_type = tls.client_auth_type or (
        "RequireAndVerifyClientCert" if tls.client_ca_file else "NoClientCert"
    )
    if auth_type in _UNVERIFIED_CLIENT_AUTH:
        fail(
            "client_auth_type",
            f"{auth_type} is not supported (Python's TLS cannot accept a "
            "client certificate without verifying it); use VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert with client_ca_file",
        )
        return None
    if auth_type != "NoClientCert" and not tls.client_ca_file:
        fail("client_auth_type", f"{auth_type} needs client_ca_file")
    if tls.max_version and _TLS_VERSIONS.index(tls.max_version) < _TLS_VERSIONS.index(
        tls.min_version
    ):
        fail("max_version", "is older than min_version")
    for name, marker in (("cert_file", b"CERTIFICATE-----"), ("key_file", b"PRIVATE KEY-----")):
        value = getattr(tls, name)
        if value:
            try:
                with open(resolve(value), "rb") as handle:
                    if marker not in handle.read(1 << 20):
                        fail(name, f"{value}: no PEM block ending in {marker.decode()}")
            except OSError as error:
                fail(name, f"cannot read {value}: {error.strerror}")
    if any(p.path.startswith("tls_server_config") for p in problems):
        return None
    import ssl  # noqa: PLC0415 - only when TLS is configured

    versions = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = versions[tls.min_version]
    if tls.max_version:
        context.maximum_version = versions[tls.max_version]
    try:
        # A password callback that gives none: an encrypted key fails here instead of prompting
        # on the terminal of a service.
        context.load_cert_chain(
            resolve(tls.cert_file), resolve(tls.key_file), password=_no_password
        )
    except (OSError, ssl.SSLError, ValueError) as error:
        fail(
            "cert_file",
            f"cannot load the certificate and key ({tls.cert_file}, {tls.key_file}): "
            f"{_reason(error)} (do they belong together?)",
        )
        return None
    context.verify_mode = {
        "NoClientCert": ssl.CERT_NONE,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[auth_type]
    if tls.client_ca_file:
        try:
            context.load_verify_locations(cafile=resolve(tls.client_ca_file))
        except (OSError, ssl.SSLError) as error:
            fail("client_ca_file", f"cannot load {tls.client_ca_file}: {_reason(error)}")
            return None
    return context


def _no_password() -> bytes:
    raise ValueError("the key is encrypted; give an unencrypted key file")


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)  # ssl.SSLError's OpenSSL reason code
    if isinstance(reason, str) and reason:
        return reason
    return getattr(error, "strerror", None) or str(error)


def _basic_auth(
    users: dict[str, str], origins: _Origins, problems: list[Problem]
) -> Optional[BasicAuth]:
    if not users:
        return None
    for user, hashed in users.items():
        if not _BCRYPT_HASH.match(hashed):
            path = ("basic_auth_users", user)
            # The value is not shown: a hash pasted in the wrong place may be a password.
            problems.append(
                Problem(
                    ".".join(path),
                    origins.of(path),
                    "not a bcrypt hash (generate one with: htpasswd -nBC 10 USER)",
                )
            )
        if ":" in user:
            path = ("basic_auth_users", user)
            problems.append(Problem(".".join(path), origins.of(path), "a user name has no ':'"))
    if problems:
        return None
    try:
        return BasicAuth(users)
    except ImportError:
        problems.append(
            Problem(
                "basic_auth_users",
                origins.of(("basic_auth_users",)),
                f"needs the bcrypt package, which is not installed: {INSTALL_HINT}",
            )
        )
        return None
