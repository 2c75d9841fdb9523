"""A strict reader of the Prometheus text format 0.0.4, for files other programs write (the
textfile collector). It accepts what node_exporter's parser (prometheus/common expfmt) accepts and
refuses a file with anything else, naming the line: one broken file must not publish half its
series. Stricter than expfmt in one way: a series written twice in one file is refused, since it
could only reach a scrape as a duplicate."""

from __future__ import annotations

import re
from typing import NamedTuple

from aiops_agent.base.model import Labels, MetricFamily, Sample

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(_NAME)
_SAMPLE = re.compile(rf"^[ \t]*({_NAME})?[ \t]*(\{{.*\}})?[ \t]*(\S+)(?:[ \t]+(\S+))?[ \t]*$")
_LABEL_PAIR = re.compile(r'[ \t]*([^ \t=,{}"]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,|$)')
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_GO_FLOAT = re.compile(
    r"[+-]?(\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf(inity)?|nan)", re.IGNORECASE
)
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


class TextFormatError(ValueError):
    """A line the format does not allow; the message names the line."""


class Parsed(NamedTuple):
    families: list[MetricFamily]
    has_timestamps: bool
    help_given: frozenset[str]  # families whose HELP the file wrote (else help is "")


def _unescape(text: str, allowed: str, line: int) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in allowed:
            raise TextFormatError(f"line {line}: invalid escape sequence '\\{match.group(1)}'")
        return _ESCAPES[match.group(1)]

    return re.sub(r"\\(.)", replace, text)


def parse_float(text: str) -> float:
    """Go's strconv.ParseFloat forms: no spaces or underscores, unlike Python's float()."""
    if not _GO_FLOAT.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def _labels(text: str, line: int) -> Labels:
    inner = text[1:-1]
    labels: dict[str, str] = {}
    position = 0
    while inner[position:].strip(" \t"):
        match = _LABEL_PAIR.match(inner, position)
        if not match:
            raise TextFormatError(f"line {line}: malformed labels {text!r}")
        name = match.group(1)
        if not _LABEL_NAME.fullmatch(name):
            raise TextFormatError(f"line {line}: invalid label name {name!r}")
        if name == "__name__":
            raise TextFormatError(f"line {line}: label name '__name__' is reserved")
        if name in labels:
            raise TextFormatError(f"line {line}: duplicate label name {name!r}")
        labels[name] = _unescape(match.group(2), '\\"n', line)
        position = match.end()
        if match.group(3) != ",":
            break
    if inner[position:].strip(" \t"):
        raise TextFormatError(f"line {line}: malformed labels {text!r}")
    return tuple(sorted(labels.items()))


class _Builder:
    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.samples: dict[str, list[Sample]] = {}
        self.seen: set[tuple[str, Labels]] = set()
        self.timestamps = False

    def owner(self, sample_name: str) -> tuple[str, str]:
        """(family, suffix): foo_bucket belongs to foo when foo is a declared histogram."""
        for family, kind in self.types.items():
            for suffix in _SUFFIXES.get(kind, ()):
                if sample_name == family + suffix:
                    return family, suffix
        return sample_name, ""

    def comment(self, text: str, line: int) -> None:
        parts = text[1:].strip(" \t").split(None, 2)
        if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
            return  # a plain comment
        keyword, name = parts[0], parts[1]
        if not _METRIC_NAME.fullmatch(name):
            raise TextFormatError(f"line {line}: invalid metric name {name!r} in comment")
        rest = parts[2].strip(" \t") if len(parts) > 2 else ""
        if keyword == "HELP":
            if name in self.helps:
                raise TextFormatError(f"line {line}: second HELP line for {name!r}")
            self.helps[name] = _unescape(parts[2] if len(parts) > 2 else "", "\\n", line)
            return
        if name in self.types or name in self.samples:
            raise TextFormatError(
                f"line {line}: second TYPE line for {name!r}, or TYPE after samples"
            )
        if rest not in _TYPES:
            raise TextFormatError(f"line {line}: unknown metric type {rest!r}")
        self.types[name] = rest

    def sample(self, text: str, line: int) -> None:
        match = _SAMPLE.match(text)
        if not match or not match.group(1):
            raise TextFormatError(f"line {line}: not a sample: {text.strip()!r}")
        name, label_text, value_text, timestamp = match.groups()
        labels = _labels(label_text, line) if label_text else ()
        try:
            value = parse_float(value_text)
            if timestamp is not None:
                int(timestamp, 10)
                self.timestamps = True
        except ValueError as error:
            raise TextFormatError(f"line {line}: {error}") from None
        family, suffix = self.owner(name)
        for special in ("le", "quantile"):
            if special in dict(labels) and suffix in ("", "_bucket"):
                try:
                    parse_float(dict(labels)[special])
                except ValueError:
                    raise TextFormatError(f"line {line}: {special} is not a number") from None
        if (name, labels) in self.seen:
            raise TextFormatError(f"line {line}: {name}{dict(labels)} written twice")
        self.seen.add((name, labels))
        self.samples.setdefault(family, []).append(Sample(labels, value, suffix))


def parse(text: str) -> Parsed:
    """Families in order of first appearance. Raises TextFormatError for a malformed file,
    including one whose last line has no newline (expfmt reads that as a truncated file)."""
    builder = _Builder()
    if text and not text.endswith("\n"):
        raise TextFormatError("the last line has no newline (truncated file?)")
    for number, line in enumerate(text.split("\n")[:-1], 1):
        stripped = line.lstrip(" \t")
        if not stripped:
            continue
        if stripped.startswith("#"):
            builder.comment(stripped, number)
        else:
            builder.sample(line, number)
    families = []
    for name, samples in builder.samples.items():
        kind = builder.types.get(name, "untyped")
        families.append(MetricFamily(name, kind, builder.helps.get(name, ""), samples))
    return Parsed(families, builder.timestamps, frozenset(builder.helps))


def fill_missing_labels(family: MetricFamily) -> MetricFamily:
    """Give every sample every label name the family uses, empty where absent (node_exporter
    does this for textfile families, so a family has one set of label names)."""
    if family.kind in _SUFFIXES:
        return family
    names = sorted({name for sample in family.samples for name, _ in sample.labels})
    samples = []
    for sample in family.samples:
        present = dict(sample.labels)
        labels = tuple((name, present.get(name, "")) for name in names)
        samples.append(sample._replace(labels=labels))
    return family._replace(samples=samples)
