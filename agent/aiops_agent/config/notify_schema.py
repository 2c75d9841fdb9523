"""Configuration of notifications: receivers (where alerts go), routes (which alerts go where) and
the outbox (how delivery survives failures). Documented in docs/notifications.md.

Each receiver is a mapping with exactly one type sub-section, so a key that belongs to another
type (routing_key on a Slack receiver) is reported as unknown instead of silently ignored:

    receivers:
      oncall: {pagerduty: {routing_key: "${PD_ROUTING_KEY}"}}
    routes:
      - {receiver: oncall, severity: [critical]}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Optional, Union

from aiops_agent.base.matchers import Matcher
from aiops_agent.config.keys import key
from aiops_agent.config.types import Duration, Secret

# Receiver names become outbox file names, so they are restricted to file-name-safe characters.
RECEIVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Always available: alerts no route matches go here, so a fresh agent shows alerts in its log.
DEFAULT_RECEIVER = "log"
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"

_TIMEOUT_DOC = "Seconds to wait for the receiver to connect and to answer."

# What each receiver type imports beyond the standard library: requests and the packages it
# cannot work without. They are imported only on a receiver's first delivery (to spare idle
# memory), so without this check a missing one would pass check-config and fail every delivery.
_HTTP_MODULES = ("requests", "urllib3", "idna", "certifi")
RECEIVER_MODULES: dict[str, tuple[str, ...]] = {
    "webhook": _HTTP_MODULES,
    "slack": _HTTP_MODULES,
    "pagerduty": _HTTP_MODULES,
    "alertmanager": _HTTP_MODULES,
}


def _timeout() -> Any:
    return key(Duration(10.0), _TIMEOUT_DOC, minimum=0.1, maximum=300)


def _check_http_url(url: Secret, name: str = "url") -> None:
    """Errors never quote the URL: it may embed a token."""
    if not url:
        raise ValueError(f"{name} must not be empty")
    if url.reference:  # left unresolved (check-config --no-resolve-secrets): nothing to check
        return
    if not url.reveal().startswith(("http://", "https://")):
        raise ValueError(f"{name} must start with http:// or https:// (value not shown)")
    import urllib.parse  # noqa: PLC0415 (only with an HTTP receiver, whose sender imports it too)

    parts = urllib.parse.urlsplit(url.reveal())
    try:
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise ValueError(f"{name} has an invalid port (value not shown)") from None
    if not parts.hostname:
        raise ValueError(f"{name} has no host (value not shown)")


@dataclass(frozen=True)
class LogReceiver:
    level: str = key(
        "warning",
        "Level of the log line for a firing alert; resolved alerts are logged at info.",
        choices=("info", "warning", "error"),
    )


# Digests a webhook signature may use: those the receivers we target verify (Event-Driven
# Ansible's webhook source takes any hashlib name; GitHub-style receivers take sha256).
SIGNATURE_ALGORITHMS = ("sha256", "sha384", "sha512")
# A header name is an RFC 9110 token.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class WebhookSignature:
    """How the HMAC of a webhook request is computed and sent. The defaults are the agent's own
    format; {header: X-Hub-Signature-256, include_timestamp: false} is what Event-Driven Ansible's
    webhook source (and GitHub-style receivers) verify: HMAC of the body alone."""

    header: str = key("X-Aiops-Signature", "Request header that carries the signature.")
    algorithm: str = key("sha256", "HMAC digest.", choices=SIGNATURE_ALGORITHMS)
    encoding: str = key("hex", "Encoding of the digest.", choices=("hex", "base64"))
    prefix: str = key(
        "sha256=", "Text before the encoded digest in the header, e.g. sha256= or empty."
    )
    include_timestamp: bool = key(
        True,
        "Sign TIMESTAMP + '.' + body and send the timestamp in X-Aiops-Timestamp, so a receiver "
        "can refuse replays. false: sign the body alone (Event-Driven Ansible, GitHub style).",
    )

    def __post_init__(self) -> None:
        if not _HEADER_NAME.match(self.header):
            raise ValueError(f"header {self.header!r} is not a valid HTTP header name")
        named = re.fullmatch(r"(sha\d+)=", self.prefix)
        if named and named.group(1) != self.algorithm:
            # Receivers that strip an "ALGORITHM=" prefix would then compare the wrong digest.
            raise ValueError(
                f"prefix {self.prefix!r} names another digest than algorithm {self.algorithm!r}"
            )


@dataclass(frozen=True)
class WebhookReceiver:
    url: Secret = key(doc="URL the JSON payload is POSTed to (a secret: ${ENV} or file:PATH).")
    hmac_secret: Secret = key(
        Secret(""),
        "Shared secret: when set, each request is signed as signature says (by default "
        "X-Aiops-Signature: sha256=HMAC-SHA256(secret, timestamp + '.' + body) and "
        "X-Aiops-Timestamp: timestamp).",
    )
    signature: WebhookSignature = key(
        factory=WebhookSignature, doc="Header, digest and input of the HMAC signature."
    )
    headers: dict[str, Secret] = key(
        factory=dict, doc="Extra request headers, e.g. Authorization (values are secrets)."
    )
    timeout: Duration = _timeout()

    def __post_init__(self) -> None:
        _check_http_url(self.url)


@dataclass(frozen=True)
class SlackReceiver:
    url: Secret = key(doc="Slack incoming-webhook URL (a secret: it embeds the token).")
    channel: str = key("", "Channel override, for legacy webhooks that allow it.")
    username: str = key("", "User name override, for legacy webhooks that allow it.")
    timeout: Duration = _timeout()

    def __post_init__(self) -> None:
        _check_http_url(self.url)


@dataclass(frozen=True)
class PagerDutyReceiver:
    routing_key: Secret = key(doc="Integration (routing) key of the PagerDuty service.")
    url: str = key(PAGERDUTY_URL, "Events API v2 endpoint.")
    default_severity: str = key(
        "error",
        "PagerDuty severity for alerts whose severity label is not critical, error, warning or "
        "info.",
        choices=("critical", "error", "warning", "info"),
    )
    timeout: Duration = _timeout()

    def __post_init__(self) -> None:
        if not self.routing_key:
            raise ValueError("routing_key must not be empty")
        _check_http_url(Secret(self.url))


@dataclass(frozen=True)
class AlertmanagerReceiver:
    url: Secret = key(doc="Alertmanager's base URL, e.g. http://alertmanager:9093.")
    headers: dict[str, Secret] = key(
        factory=dict, doc="Extra request headers, e.g. Authorization (values are secrets)."
    )
    resend_interval: Duration = key(
        Duration(60.0),
        "Firing alerts are re-sent this often, with endsAt four intervals ahead, so Alertmanager "
        "does not resolve them while the agent still sees them.",
        minimum=1,
        maximum=3600,
    )
    resolve_resend_for: Duration = key(
        Duration(900.0),
        "How long a resolved alert keeps being re-sent, as Prometheus does.",
        minimum=0,
        maximum=86400,
    )
    external_url: str = key(
        "",
        "Base of each alert's generatorURL. Empty: http://HOSTNAME:PORT of the agent's listener.",
    )
    timeout: Duration = _timeout()

    def __post_init__(self) -> None:
        _check_http_url(self.url)


@dataclass(frozen=True)
class EmailReceiver:
    smarthost: str = key(doc="SMTP server as HOST:PORT, e.g. smtp.example.com:587.")
    from_address: str = key(doc="Sender address.")
    to: list[str] = key(doc="Recipient addresses.")
    username: str = key("", "SMTP user; empty: no authentication.")
    password: Secret = key(Secret(""), "SMTP password.")
    tls: str = key(
        "starttls",
        "starttls (upgrade a plain connection, port 587), tls (TLS from the start, port 465) or "
        "none (loopback relays only).",
        choices=("starttls", "tls", "none"),
    )
    ca_file: str = key("", "CA bundle to verify the server with. Empty: the system's.")
    timeout: Duration = _timeout()

    def __post_init__(self) -> None:
        host, _, port = self.smarthost.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"smarthost must be HOST:PORT, got {self.smarthost!r}")
        if not self.to:
            raise ValueError("to must name at least one recipient")
        if self.username and not self.password:
            raise ValueError("password must be set when username is")


ReceiverSettings = Union[
    LogReceiver,
    WebhookReceiver,
    SlackReceiver,
    PagerDutyReceiver,
    AlertmanagerReceiver,
    EmailReceiver,
]


@dataclass(frozen=True)
class Receiver:
    log: Optional[LogReceiver] = key(None, "Log each alert (the agent's own log).")
    webhook: Optional[WebhookReceiver] = key(None, "POST a versioned JSON document.")
    slack: Optional[SlackReceiver] = key(None, "Slack incoming webhook.")
    pagerduty: Optional[PagerDutyReceiver] = key(None, "PagerDuty Events API v2.")
    alertmanager: Optional[AlertmanagerReceiver] = key(None, "Prometheus Alertmanager API v2.")
    email: Optional[EmailReceiver] = key(None, "E-mail over SMTP.")

    def __post_init__(self) -> None:
        chosen = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        if len(chosen) != 1:
            types = ", ".join(f.name for f in fields(self))
            got = ", ".join(chosen) or "none"
            raise ValueError(f"a receiver has exactly one of {types} (e.g. 'log: {{}}'); got {got}")

    @property
    def type(self) -> str:
        return next(f.name for f in fields(self) if getattr(self, f.name) is not None)

    @property
    def settings(self) -> ReceiverSettings:
        chosen: ReceiverSettings = getattr(self, self.type)
        return chosen


@dataclass(frozen=True)
class Route:
    receiver: str = key(doc="Receiver to notify: a name under receivers, or log.")
    severity: list[str] = key(
        factory=list, doc="Match only alerts whose severity label is one of these; empty: any."
    )
    # The rules' syntax, so one matcher language throughout.
    matchers: list[Matcher] = key(
        factory=list,
        doc='Label matchers that must all hold: team="ops", env!="dev", instance=~"web.*".',
    )
    # "continue" in YAML: the loader maps keys that are Python keywords to the field name + "_".
    continue_: bool = key(
        False, "Keep matching the routes below after this one matched (as in Alertmanager)."
    )
    # Grouping overrides; null: the value under grouping (repeat: alerting.repeat_interval).
    group_by: Optional[list[str]] = key(
        None, "Labels whose values form a group; null: grouping.group_by."
    )
    group_wait: Optional[Duration] = key(
        None, "Wait before a new group's first notification; null: grouping.group_wait.", minimum=0
    )
    group_interval: Optional[Duration] = key(
        None,
        "Wait before notifying changes of a notified group; null: grouping.group_interval.",
        minimum=0,
    )
    repeat_interval: Optional[Duration] = key(
        None,
        "Re-notify an unchanged group with firing alerts after this long; null: "
        "alerting.repeat_interval.",
        minimum=1,
    )

    def __post_init__(self) -> None:
        _check_group_by(self.group_by)


# group_by: ["..."] groups by every label, i.e. one alert per group, as in Alertmanager.
GROUP_BY_ALL = "..."
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_group_by(names: Optional[list[str]]) -> None:
    if names is None:
        return
    if GROUP_BY_ALL in names and len(names) > 1:
        raise ValueError(f"group_by: {GROUP_BY_ALL!r} stands alone (it means every label)")
    for name in names:
        if name != GROUP_BY_ALL and not _LABEL_NAME.match(name):
            raise ValueError(f"group_by: {name!r} is not a label name")


@dataclass(frozen=True)
class GroupingSection:
    """Defaults of the routes' grouping keys (Alertmanager's root route). See docs/notifications.md
    for why group_wait and group_interval default to 0 here."""

    group_by: list[str] = key(
        factory=lambda: ["host", "alertname"],
        doc="Labels whose values form a group: alerts of one group (per route) are notified "
        "together, as one message. [host]: one group per host; ['...']: one per alert.",
    )
    group_wait: Duration = key(
        Duration(0.0),
        "Wait this long for more alerts of a new group before its first notification. 0: "
        "notify at the evaluation the first alert fires (alerts firing in it are grouped).",
        minimum=0,
        maximum=86400,
    )
    group_interval: Duration = key(
        Duration(0.0),
        "Wait this long after a group's notification before notifying alerts added to it or "
        "resolved in it. 0: at the evaluation they change.",
        minimum=0,
        maximum=86400,
    )
    max_groups: int = key(
        1000,
        "Most groups per receiver; alerts of further groups join one overflow group per route "
        "(counted, logged).",
        minimum=1,
        maximum=100_000,
    )

    def __post_init__(self) -> None:
        _check_group_by(self.group_by)


@dataclass(frozen=True)
class OutboxSection:
    max_items: int = key(
        10000,
        "Most notifications kept per receiver; beyond it the oldest are dropped (and counted).",
        minimum=10,
        maximum=1_000_000,
    )
    max_age: Duration = key(
        Duration(86400.0),
        "Undelivered notifications older than this are dropped (and counted).",
        minimum=60,
        maximum=30 * 86400,
    )
    backoff_base: Duration = key(
        Duration(1.0), "First retry delay; it doubles per failure, with jitter.", minimum=0.01
    )
    backoff_max: Duration = key(
        Duration(300.0), "Longest delay between retries.", minimum=0.1, maximum=86400
    )
    max_retry_after: Duration = key(
        Duration(3600.0),
        "Longest Retry-After a receiver's 429 or 503 is obeyed for.",
        minimum=1,
        maximum=86400,
    )
    synchronous: str = key(
        "full",
        "SQLite durability: full syncs each enqueue to disk (survives power loss); normal only "
        "survives a crash of the agent, for slow disks.",
        choices=("full", "normal"),
    )
    dead_letters_kept: int = key(
        1000,
        "Most rejected notifications kept per receiver for inspection.",
        minimum=0,
        maximum=100_000,
    )

    def __post_init__(self) -> None:
        if self.backoff_base > self.backoff_max:
            raise ValueError("backoff_base must not exceed backoff_max")


def check_routing(
    receivers: Mapping[str, Receiver], routes: Sequence[Route]
) -> Iterable[tuple[tuple[Union[str, int], ...], str]]:
    """The checks no single section can make: names are file-name safe and every route names a
    receiver that exists. Yields (key path, message) for the loader to place in the file."""
    for name in receivers:
        if not RECEIVER_NAME.match(name):
            yield (
                ("receivers", name),
                "receiver names are 1-64 letters, digits, '_', '.' or '-', starting with a letter "
                "or digit",
            )
    known = set(receivers) | {DEFAULT_RECEIVER}
    for index, route in enumerate(routes):
        if route.receiver not in known:
            yield (
                ("routes", index, "receiver"),
                f"unknown receiver {route.receiver!r} (defined: {', '.join(sorted(known))})",
            )


def check_receiver_modules(
    receivers: Mapping[str, Receiver],
) -> Iterable[tuple[tuple[Union[str, int], ...], str]]:
    """Receivers whose Python package cannot be imported, found without importing it (find_spec
    costs no memory). Yields (key path, message) for the loader to place in the file."""
    for name, receiver in receivers.items():
        modules = RECEIVER_MODULES.get(receiver.type, ())
        reason = next(filter(None, map(missing_module, modules)), None)
        if reason is not None:
            yield (
                ("receivers", name),
                f"{receiver.type} needs the Python package {modules[0]!r} ({reason})",
            )


def missing_module(name: str) -> Optional[str]:
    """Why `name` cannot be imported, or None when it can be found."""
    import importlib.util  # noqa: PLC0415 - only configs with such receivers need it

    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None if found is not None else f"No module named {name!r}"
