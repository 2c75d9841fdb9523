"""Metrics from *.prom files in a directory (node_exporter's textfile collector): what cron jobs
and scripts publish through the agent, e.g. backup results or pending upgrades. Files are read
in name order on every collection. A file that does not parse, carries timestamps or is over
4 MiB is skipped whole and node_textfile_scrape_error goes to 1; the other files are still
served. A family that another file already published with another type, help or label names, or
the same series again, is refused from the later file (also an error); so is a family the agent
itself publishes (node_cpu_seconds_total, aiops_agent_*, process_*), which a file must not
shadow. node_textfile_mtime_seconds{file} tells when each file read was last written."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from typing import Callable

from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily, Sample, gauge
from aiops_agent.collectors.host import read_bytes
from aiops_agent.config.schema import TextfileCollector as TextfileSettings
from aiops_agent.textformat import TextFormatError, fill_missing_labels, parse

MAX_FILE_BYTES = 4 * 1024 * 1024
# Families no file may publish: the agent's own and this collector's.
RESERVED_PREFIXES = ("aiops_", "process_", "node_scrape_collector_", "node_textfile_", "ALERTS")

log = logging.getLogger("aiops_agent.textfile")


class _Merged:
    """Families merged across files, with what each came from, for node_exporter's checks."""

    def __init__(self) -> None:
        self.families: dict[str, MetricFamily] = {}
        self.files: dict[str, list[str]] = {}
        self.help_given: dict[str, bool] = {}
        self.series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def conflict(self, family: MetricFamily, help_given: bool) -> str | None:
        earlier = self.families.get(family.name)
        series = {(family.name + s.suffix, s.labels) for s in family.samples}
        if earlier is None:
            return None
        if earlier.kind != family.kind:
            return f"type {family.kind} where an earlier file has {earlier.kind}"
        if help_given and self.help_given[family.name] and earlier.help != family.help:
            return "help text differs from an earlier file's"
        label_names = {n for s in family.samples for n, _ in s.labels}
        if family.kind not in ("histogram", "summary") and label_names != {
            n for s in earlier.samples for n, _ in s.labels
        }:
            return "label names differ from an earlier file's"
        if series & self.series:
            return "a series an earlier file already published"
        return None

    def add(self, family: MetricFamily, help_given: bool, path: str) -> None:
        self.series.update((family.name + s.suffix, s.labels) for s in family.samples)
        self.files.setdefault(family.name, []).append(path)
        earlier = self.families.get(family.name)
        if earlier is None:
            self.families[family.name] = family
            self.help_given[family.name] = help_given
        else:
            help_text = earlier.help if self.help_given[family.name] else family.help
            self.help_given[family.name] = self.help_given[family.name] or help_given
            merged = earlier._replace(help=help_text, samples=earlier.samples + family.samples)
            self.families[family.name] = merged


class TextfileCollector:
    name = "textfile"

    def __init__(
        self,
        settings: TextfileSettings,
        published: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._directory = settings.directory
        self._published = published  # families the other collectors publish
        self._errors = RateLimitedLog(log)

    def collect(self) -> list[MetricFamily]:
        errors = 0
        mtimes = gauge(
            "node_textfile_mtime_seconds", "Unixtime mtime of textfiles successfully read."
        )
        merged = _Merged()
        names: list[str] = []
        if self._directory:
            try:
                names = sorted(n for n in os.listdir(self._directory) if n.endswith(".prom"))
            except OSError as error:
                errors += 1
                self._report(self._directory, f"cannot read the directory: {error.strerror}")
        reserved = set(self._published())
        for name in names:
            path = os.path.join(self._directory, name)
            read = self._read(path)
            if read is None:
                errors += 1
                continue
            families, help_given, mtime = read
            for family in families:
                problem = self._refusal(family, reserved) or merged.conflict(
                    family, family.name in help_given
                )
                if problem:
                    errors += 1
                    self._report(path, f"{family.name} refused: {problem}")
                    continue
                merged.add(family, family.name in help_given, path)
            mtimes.samples.append(Sample((("file", path),), float(int(mtime))))
        out = [
            family
            if merged.help_given[family_name]
            else family._replace(help=f"Metric read from {', '.join(merged.files[family_name])}")
            for family_name, family in merged.families.items()
        ]
        error_family = gauge(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            [Sample((), 1.0 if errors else 0.0)],
        )
        return [*out, mtimes, error_family]

    @staticmethod
    def _refusal(family: MetricFamily, reserved: set[str]) -> str | None:
        if family.name in reserved or family.name.startswith(RESERVED_PREFIXES):
            return "the agent publishes this family itself"
        return None

    def _read(self, path: str) -> tuple[list[MetricFamily], frozenset[str], float] | None:
        """The file's families, the ones it gave a HELP for, and its mtime; None (logged) when
        the file is to be skipped."""
        try:
            if os.stat(path).st_size > MAX_FILE_BYTES:
                self._report(path, f"larger than {MAX_FILE_BYTES} bytes; skipped")
                return None
            data = read_bytes(path)
            mtime = os.stat(path).st_mtime
        except OSError as error:
            self._report(path, f"cannot read: {error.strerror}")
            return None
        try:
            parsed = parse(data.decode("utf-8"))
        except (UnicodeDecodeError, TextFormatError) as error:
            self._report(path, f"not in the Prometheus text format: {error}")
            return None
        if parsed.has_timestamps:
            self._report(path, "samples carry timestamps, which the textfile format forbids")
            return None
        return [fill_missing_labels(f) for f in parsed.families], parsed.help_given, mtime

    def _report(self, path: str, message: str) -> None:
        self._errors.error(f"{path}:{message}", "textfile skipped", file=path, error=message)
