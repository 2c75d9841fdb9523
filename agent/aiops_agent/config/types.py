"""Value types the schema uses beyond Python's own, and their parsers."""

from __future__ import annotations

import os
import re
from typing import Any, Callable, NewType

from aiops_agent.base.listen import ListenAddress
from aiops_agent.base.matchers import Matcher, Selector, parse_matcher, parse_selector
from aiops_agent.base.timefmt import Timestamp, parse_timestamp

# Seconds, written as a number or a Prometheus-style duration such as "90s", "5m" or "1h30m".
Duration = NewType("Duration", float)
# A Python regular expression, checked at load time.
Regex = NewType("Regex", str)

# Types written as a string in YAML and kept parsed in the config, so what reads the config never
# parses again: the loader builds each with its parser (whose ValueError it reports at the key),
# and str() of a value gives its text back (the example config, the docs).
PARSED: dict[type, Callable[[str], Any]] = {
    ListenAddress: ListenAddress.parse,  # "HOST:PORT"; an IPv6 host bracketed: "[::1]:9877"
    Matcher: parse_matcher,  # a label matcher: name="value", name!~"regex"
    Selector: parse_selector,  # a series selector: name{matcher, ...}
    Timestamp: parse_timestamp,  # RFC 3339 or unix seconds; "" for not set
}

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Parse "1h30m" or "15" (seconds). Raises ValueError with a message fit for a user."""
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(stripped):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(stripped) or not stripped:
        raise ValueError(f"{text!r} is not a duration (examples: 30, 30s, 5m, 1h30m)")
    return total


class Secret:
    """A credential. Its value is only reachable through reveal(), so it never lands in a log line,
    an error message or a repr by accident."""

    __slots__ = ("_value", "reference")

    def __init__(self, value: str, reference: str = "") -> None:
        self._value = value
        # "${NAME}" or "file:PATH" when the reference was checked for form but not resolved
        # (check-config --no-resolve-secrets, for a config that runs elsewhere): value unknown.
        self.reference = reference

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value or self.reference)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Secret)
            and other._value == self._value
            and other.reference == self.reference
        )

    def __hash__(self) -> int:
        return hash((self._value, self.reference))

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__


# A reference may be the whole value or part of it ("Bearer ${HOOK_TOKEN}"): a header or URL
# often wraps the secret in fixed text, and sending "${HOOK_TOKEN}" literally was never meant.
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _environment_value(match: re.Match[str]) -> str:
    name = match.group(1)
    if name not in os.environ:
        raise ValueError(f"environment variable {name} is not set")
    if not os.environ[name]:  # a reference was meant to give a value: empty is a mistake
        raise ValueError(f"environment variable {name} is empty")
    return os.environ[name]


def resolve_secret(text: str, *, resolve: bool = True) -> Secret:
    """A secret is given literally, with "${ENV_VAR}" references (the whole value or part of it,
    as in "Bearer ${TOKEN}"), or as "file:/path/to/file" (whose content, without the trailing
    newline, is the secret). A reference that resolves to nothing is an error, whatever the key:
    whoever wrote it meant to give a value. Errors name the variable or file, never the value.
    resolve=False checks a reference's form only and returns it unresolved."""
    has_reference = _ENV_REFERENCE.search(text) is not None
    if not resolve and (has_reference or text.startswith("file:")):
        if text == "file:":
            raise ValueError("file: must be followed by the path of the secret file")
        return Secret("", reference=text)
    if has_reference:
        return Secret(_ENV_REFERENCE.sub(_environment_value, text))
    if text.startswith("file:"):
        path = text[len("file:") :]
        try:
            with open(path, encoding="utf-8") as handle:
                content = handle.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise ValueError(f"cannot read secret file {path}: {reason}") from None
        if not content:
            raise ValueError(f"secret file {path} is empty")
        return Secret(content)
    return Secret(text)
