"""TLS and basic auth for the HTTP endpoints, configured like Prometheus' exporter-toolkit: a YAML
web config file (http.web_config_file) with tls_server_config and basic_auth_users, so one file
format serves the agent, node_exporter and Prometheus itself. The file's schema and the checks
across its keys are config/web.py's, read with the main config's machinery (errors name the key,
file and line); here the certificates are loaded into an SSL context and the users into a
BasicAuth. Re-read on every reload."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, NamedTuple, Optional

if TYPE_CHECKING:  # ssl (OpenSSL, ~5 MiB RSS) is imported only when TLS is configured
    import ssl

    from aiops_agent.config.loader import SchemaFile
    from aiops_agent.config.web import TlsServerConfig, WebConfigFile

from aiops_agent.config.errors import ConfigError
from aiops_agent.config.schema import Config

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
    client_certificates: str = ""  # "required", "optional" or "" (none asked for)

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    @property
    def auth_required(self) -> str:
        """What every request must present: none, basic, client_cert or basic+client_cert."""
        kinds = [name for name, on in (("basic", self.auth is not None),
                 ("client_cert", self.client_certificates == "required")) if on]  # fmt: skip
        return "+".join(kinds) or "none"


class Exposure(NamedTuple):
    """Who can reach the HTTP endpoints, for the start-up warning and aiops_agent_http_exposed."""

    exposed: bool  # listening on an address other hosts can reach (not loopback)
    tls: bool
    auth: str  # WebSecurity.auth_required
    # The write endpoints served to unauthenticated callers from the network
    # (http.insecure_unauthenticated_writes on an exposed listener that does not require auth).
    unauthenticated_writes: bool


def exposure(config: Config, web: WebSecurity) -> Exposure:
    exposed = not config.http.listen.is_loopback
    auth = web.auth_required
    insecure = config.http.insecure_unauthenticated_writes
    return Exposure(exposed, web.tls, auth, exposed and insecure and auth == "none")


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
    """Raises ConfigError with every problem of the file, each at its key and line."""
    # The file's schema only for agents that have one.
    from aiops_agent.config.web import check_users, read_web_config  # noqa: PLC0415

    document = read_web_config(path)
    web = document.value
    context = None
    if web is not None and web.tls_server_config is not None and not document.problems:
        base = os.path.dirname(os.path.abspath(path))
        context = _ssl_context(web.tls_server_config, base, document)
    check_users(document)
    auth = _basic_auth(web, document) if web is not None and not document.problems else None
    document.raise_problems()
    client_auth = web.tls_server_config.client_auth if web and web.tls_server_config else ""
    certificates = {"RequireAndVerifyClientCert": "required", "VerifyClientCertIfGiven": "optional"}
    return WebSecurity(context, auth, path, client_certificates=certificates.get(client_auth, ""))


def _ssl_context(
    tls: TlsServerConfig, base: str, document: SchemaFile[WebConfigFile]
) -> Optional[ssl.SSLContext]:
    def fail(name: str, message: str) -> None:
        document.report(("tls_server_config", name), message)

    def resolve(name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(base, name)

    for name, marker in (("cert_file", b"CERTIFICATE-----"), ("key_file", b"PRIVATE KEY-----")):
        value = getattr(tls, name)
        if value:
            try:
                with open(resolve(value), "rb") as handle:
                    if marker not in handle.read(1 << 20):
                        fail(name, f"{value}: no PEM block ending in {marker.decode()}")
            except OSError as error:
                fail(name, f"cannot read {value}: {error.strerror}")
    if document.problems:
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
    }[tls.client_auth]
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


def _basic_auth(web: WebConfigFile, document: SchemaFile[WebConfigFile]) -> Optional[BasicAuth]:
    if not web.basic_auth_users:
        return None
    try:
        return BasicAuth(web.basic_auth_users)
    except ImportError:
        document.report(
            ("basic_auth_users",),
            f"needs the bcrypt package, which is not installed: {INSTALL_HINT}",
        )
        return None
