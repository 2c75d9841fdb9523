"""Label matchers, written as in Prometheus and Alertmanager: name="value", name!="value",
name=~"regex", name!~"regex"; and series selectors: metric_name{matcher, ...}. Regexes are
anchored at both ends, as in Prometheus, so "sd.*" does not match "nvme0n1-sda"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple, Optional

MAX_TEXT = 1024  # a matcher value longer than this is a mistake (or an attack on the API)

_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_MATCHER = re.compile(
    rf'\s*({_NAME})\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|([^,{{}}"\']*))\s*'
)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class Matcher(NamedTuple):
    name: str
    value: str
    is_regex: bool
    is_equal: bool
    pattern: Optional[re.Pattern[str]]

    def matches(self, value: str) -> bool:
        if self.pattern is not None:
            hit = self.pattern.fullmatch(value) is not None
        else:
            hit = value == self.value
        return hit == self.is_equal

    def __str__(self) -> str:
        operator = {(False, True): "=", (False, False): "!=", (True, True): "=~"}.get(
            (self.is_regex, self.is_equal), "!~"
        )
        return f"{self.name}{operator}{_quote(self.value)}"


def make_matcher(name: str, value: str, is_regex: bool = False, is_equal: bool = True) -> Matcher:
    """Raises ValueError with a message fit for a user."""
    if not re.fullmatch(_NAME, name):
        raise ValueError(f"{name!r} is not a label name")
    if len(value) > MAX_TEXT:
        raise ValueError(f"matcher value for {name} longer than {MAX_TEXT} characters")
    pattern = None
    if is_regex:
        try:
            pattern = re.compile(value)
        except re.error as error:
            raise ValueError(f"invalid regular expression for {name}: {error}") from None
    return Matcher(name, value, is_regex, is_equal, pattern)


def parse_matcher(text: str) -> Matcher:
    match = _MATCHER.fullmatch(text)
    if match is None:
        example = 'device="eth0", mountpoint!~"/boot.*"'
        raise ValueError(f"{text!r} is not a matcher (examples: {example})")
    return _from_match(match)


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(text) for text in texts)


class Selector(NamedTuple):
    """A series selector as written (text) and parsed: a metric name and label matchers."""

    text: str
    name: str  # empty when the matchers select the name: {__name__=~"node_disk_.*"}
    matchers: tuple[Matcher, ...]

    def __str__(self) -> str:
        return self.text


def parse_selector(text: str) -> Selector:
    """'name{a="b", c=~"d.*"}' -> Selector(text, name, matchers). The name may be empty when the
    braces hold a __name__ matcher, e.g. '{__name__=~"node_disk_.*_bytes_total"}'."""
    stripped = text.strip()
    name_match = _METRIC_NAME.match(stripped)
    name = name_match.group(0) if name_match else ""
    rest = stripped[len(name) :].strip()
    matchers: list[Matcher] = []
    if rest:
        if not (rest.startswith("{") and rest.endswith("}")):
            raise ValueError(f'{text!r} is not a selector (example: name{{label="value"}})')
        inner = rest[1:-1].strip()
        position = 0
        while position < len(inner):
            match = _MATCHER.match(inner, position)
            if match is None:
                raise ValueError(f"{text!r}: cannot parse the matchers at {inner[position:]!r}")
            matchers.append(_from_match(match))
            position = match.end()
            if position < len(inner):
                if inner[position] != ",":
                    raise ValueError(f"{text!r}: expected ',' at {inner[position:]!r}")
                position += 1
    if not name and not any(m.name == "__name__" for m in matchers):
        raise ValueError(f"{text!r} selects no metric name")
    return Selector(text, name, tuple(matchers))


def labels_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """A missing label matches as the empty string, as in Prometheus and Alertmanager."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _from_match(match: re.Match[str]) -> Matcher:
    name, operator = match.group(1), match.group(2)
    quoted = match.group(3) if match.group(3) is not None else match.group(4)
    value = _unescape(quoted) if quoted is not None else (match.group(5) or "").strip()
    return make_matcher(name, value, is_regex="~" in operator, is_equal=operator[0] == "=")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
