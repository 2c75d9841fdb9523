"""A small parser for the Prometheus text exposition format 0.0.4, enough to compare two exporters'
pages in tests and scripts (prometheus_client is not a dependency). Strict where it matters: a
malformed line raises, so a broken page fails the test that reads it instead of vanishing; so do
a family declared twice and a series (name and labels) written twice, which Prometheus rejects
or drops. Every page a test reads goes through parse(), AgentProcess.metrics() included."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.helpers.ports import listening_port

Labels = tuple[tuple[str, str], ...]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})?\s+(\S+)(?:\s+(-?\d+))?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_SUFFIXES = {
    "summary": ("_sum", "_count", ""),
    "histogram": ("_bucket", "_sum", "_count"),
}


@dataclass
class Sample:
    name: str
    labels: Labels
    value: float

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str = ""
    samples: list[Sample] = field(default_factory=list)

    def label_names(self) -> set[str]:
        return {name for sample in self.samples for name, _ in sample.labels}

    def by_labels(self) -> dict[Labels, float]:
        """Value per (sorted) label set; for the family's own samples, not _sum/_count/_bucket."""
        return {s.labels: s.value for s in self.samples if s.name == self.name}


def _unescape(value: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), m.group(0)), value
    )


def _parse_labels(text: str) -> Labels:
    labels = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _LABEL.match(text, position)
        if not match:
            raise ValueError(f"malformed labels: {text!r}")
        labels.append((match.group(1), _unescape(match.group(2))))
        position = match.end()
    return tuple(sorted(labels))


def _parse_value(text: str) -> float:
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    return float(text)


def _owner(name: str, families: dict[str, Family], current: Family | None) -> Family:
    """The family a sample belongs to: the current one when the name is its own or one of its
    type's suffixed series, else a family of that name (untyped if never declared)."""
    if current is not None:
        for suffix in _SUFFIXES.get(current.type, ("",)):
            if name == current.name + suffix:
                return current
    return families.setdefault(name, Family(name))


class DuplicateSeries(ValueError):
    """A page holds the same series twice, or declares a family twice."""


def parse(text: str) -> dict[str, Family]:
    families: dict[str, Family] = {}
    current: Family | None = None
    seen_series: dict[tuple[str, Labels], int] = {}
    declared: dict[tuple[str, str], int] = {}
    # Lines end at "\n" only: splitlines() would also split a label value at \x1c or \x85.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                first = declared.setdefault((parts[1], parts[2]), number)
                if first != number:
                    raise DuplicateSeries(
                        f"line {number}: second {parts[1]} for {parts[2]} (first on line {first})"
                    )
                family = families.setdefault(parts[2], Family(parts[2]))
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "HELP":
                    family.help = rest.replace("\\n", "\n").replace("\\\\", "\\")
                else:
                    family.type = rest.strip()
                current = family
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise ValueError(f"line {number}: not a sample: {line!r}")
        name, label_text, value_text, _timestamp = match.groups()
        sample = Sample(name, _parse_labels(label_text or ""), _parse_value(value_text))
        first = seen_series.setdefault((name, sample.labels), number)
        if first != number:
            raise DuplicateSeries(
                f"line {number}: {name}{dict(sample.labels)} already on line {first}"
            )
        owner = _owner(name, families, current)
        owner.samples.append(sample)
        current = owner
    return families


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample named `name` on a page whose labels include `labels`; None when
    there is none, an error when there are several."""
    family = parse(text).get(name)
    found = [
        s.value
        for s in (family.samples if family else [])
        if s.name == name and labels.items() <= s.label_dict.items()
    ]
    if len(found) > 1:
        raise ValueError(f"{len(found)} samples of {name} match {labels}")
    return found[0] if found else None


def series(families: dict[str, Family]) -> dict[tuple[str, Labels], float]:
    """Every sample keyed by (sample name, labels)."""
    return {(s.name, s.labels): s.value for f in families.values() for s in f.samples}


# --- Running the two exporters side by side (integration tests and the coverage script) ---------


NODE_EXPORTER_NAMES = ("prometheus-node-exporter", "node_exporter")


def require_binary(names: Sequence[str], package: str) -> str:
    """The binary's path, or a test failure naming the Debian package that provides it: CI installs
    it with scripts/setup.sh, so a missing binary is a broken environment, not a reason to skip."""
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
        )
        if found:
            return found
    message = (
        f"{'/'.join(names)} not found on PATH: install the Debian package {package} "
        "(scripts/setup.sh does)"
    )
    try:
        import pytest
    except ImportError:
        raise SystemExit(message) from None
    pytest.fail(message, pytrace=False)
    raise AssertionError(message)  # unreachable; pytest.fail raises


def fetch(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode("utf-8"))


def _wait_for(
    url: str, process: subprocess.Popen[bytes], what: str, deadline: float = 20.0
) -> None:
    stop = time.monotonic() + deadline
    error: Exception | None = None
    while time.monotonic() < stop:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before answering {url}")
        try:
            fetch(url, timeout=2.0)
            return
        except OSError as exc:
            error = exc
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within {deadline:g}s: {error}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def agent_default_filters() -> dict[str, str]:
    """The agent's default include/exclude regexes, read from its schema so the node_exporter we
    compare against is configured the same way (Debian's node_exporter has other defaults)."""
    from aiops_agent.config import schema

    return {
        "mount_points_exclude": str(schema.FilesystemCollector().mount_points_exclude),
        "fs_types_exclude": str(schema.FilesystemCollector().fs_types_exclude),
        "diskstats_exclude": str(schema.DiskstatsCollector().device_exclude),
        "netdev_exclude": str(schema.NetdevCollector().device_exclude),
    }


def node_exporter_flags(
    port: int, *, same_filters: bool = True, processes: bool = True
) -> list[str]:
    flags = [f"--web.listen-address=127.0.0.1:{port}"]
    if processes:
        flags.append("--collector.processes")
    if same_filters:
        filters = agent_default_filters()
        flags += [
            f"--collector.filesystem.mount-points-exclude={filters['mount_points_exclude']}",
            f"--collector.filesystem.fs-types-exclude={filters['fs_types_exclude']}",
            f"--collector.diskstats.device-exclude={filters['diskstats_exclude']}",
            f"--collector.netdev.device-exclude={filters['netdev_exclude']}",
            # The agent reports /sys/class/net properties for the interfaces netdev keeps.
            f"--collector.netclass.ignored-devices={filters['netdev_exclude']}",
        ]
    return flags


@contextmanager
def node_exporter(
    *,
    same_filters: bool = True,
    processes: bool = True,
    binary: str | None = None,
    extra_flags: Sequence[str] = (),
) -> Iterator[str]:
    """A node_exporter (this host's, unless `binary` names another) on a loopback port the kernel
    picks; yields its /metrics URL."""
    binary = binary or require_binary(NODE_EXPORTER_NAMES, "prometheus-node-exporter")
    flags = node_exporter_flags(0, same_filters=same_filters, processes=processes)
    process = subprocess.Popen(
        [binary, *flags, *extra_flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{listening_port(process, 'node_exporter')}/metrics"
        _wait_for(url, process, "node_exporter")
        yield url
    finally:
        _stop(process)


def promtool_check_metrics(page: str) -> set[str]:
    """promtool's lint findings on a page, one string per finding; raises on a parse error."""
    promtool = require_binary(("promtool",), "prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        check=False,
        input=page,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = {line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()}
    if any(line.startswith("error while linting") for line in lines):
        raise ValueError(f"promtool could not parse the page: {sorted(lines)}")
    if result.returncode not in (0, 3) or (result.returncode == 3) != bool(lines):
        raise ValueError(f"promtool check metrics exited {result.returncode}: {sorted(lines)}")
    return lines
