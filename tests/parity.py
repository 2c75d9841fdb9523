"""Compare the agent's page with node_exporter's: which families the agent covers, and where a
family both publish differs (type, help, label names, the set of series, values). Used by the
side-by-side tests and scripts/node_exporter_coverage.py.

The agent targets node_exporter 1.9 (docs/metrics.md). Against 1.5 a family may differ where 1.9
changed it, if the agent matches 1.9 there: pass `newer` (1.9's page of the same host) and such
differences count as "changed in 1.9", not as mismatches.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Callable, Optional

from tests.promtext import Family, Labels

# Series about the exporter itself, not the host: left out of coverage and comparisons.
EXPORTER_SELF = ("node_scrape_", "node_exporter_build_info", "node_textfile_")
# Read from the running kernel and clock whatever the tree: compared by name and labels only.
LIVE = frozenset(
    {
        "node_time_seconds",
        "node_time_zone_offset_seconds",
        "node_uname_info",
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_filesystem_files_free",
    }
)
LIVE_PREFIXES = ("node_timex_",)

# Deliberate differences from node_exporter 1.9.0, each documented in docs/metrics.md.
# (family, what differs) -> why.
KNOWN_19 = {
    ("node_disk_info", "series"): (
        "1.9.0 sets rotational=0 when any of ~30 queue attributes is unreadable (e.g. virtio "
        "disks have no io_timeout); the agent reads queue/rotational, as node_exporter 1.12 does"
    ),
}
# Label names that only a (deliberately) colliding hwmon chip can explain.
HWMON_PREFIX = "node_hwmon_"


@dataclass
class Report:
    theirs: dict[str, Family]
    ours: dict[str, Family]
    covered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    changed_in_newer: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    series_total: int = 0
    series_covered: int = 0


def host_families(families: dict[str, Family]) -> dict[str, Family]:
    return {
        name: family
        for name, family in families.items()
        if name.startswith("node_") and not name.startswith(EXPORTER_SELF) and family.samples
    }


SeriesKey = tuple[str, Labels]


def _series(family: Family) -> dict[SeriesKey, float]:
    return {(s.name, s.labels): s.value for s in family.samples}


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _fmt(key: SeriesKey) -> str:
    name, labels = key
    return f"{name}{{{','.join(f'{k}={v!r}' for k, v in labels)}}}"


def compare(
    ours_page: dict[str, Family],
    theirs_page: dict[str, Family],
    *,
    newer_page: Optional[dict[str, Family]] = None,
    known: Optional[dict[tuple[str, str], str]] = None,
    ignore_series: Callable[[str, Labels], bool] = lambda name, labels: False,
    live: Collection[str] = LIVE,
) -> Report:
    """Coverage of `theirs_page` by `ours_page`, and every difference in a family both have.
    `ignore_series(family, labels)` leaves out series a documented difference explains."""
    theirs, ours = host_families(theirs_page), host_families(ours_page)
    newer = host_families(newer_page) if newer_page is not None else None
    report = Report(theirs, ours)
    report.missing = sorted(set(theirs) - set(ours))
    report.extra = sorted(set(ours) - set(theirs))
    for name in report.missing:  # series of families the agent lacks count as not covered
        report.series_total += sum(
            1 for key in _series(theirs[name]) if not ignore_series(name, key[1])
        )
    for name in sorted(set(theirs) & set(ours)):
        mine, their = ours[name], theirs[name]
        newer_family = newer.get(name) if newer is not None else None
        wanted = {k: v for k, v in _series(their).items() if not ignore_series(name, k[1])}
        got = {k: v for k, v in _series(mine).items() if not ignore_series(name, k[1])}
        report.series_total += len(wanted)
        # A series counts as covered under the labels node_exporter has (1.5 lacks labels 1.9
        # added, such as device_error): the agent publishes it, with one more label.
        names = their.label_names()
        projected = {(key[0], tuple(p for p in key[1] if p[0] in names)) for key in got}
        report.series_covered += len(set(wanted) & projected)
        problems: list[tuple[str, str]] = []
        if mine.type != their.type:
            problems.append(("type", f"type {mine.type}, node_exporter {their.type}"))
        if mine.help != their.help:
            problems.append(("help", f"help {mine.help!r}, node_exporter {their.help!r}"))
        if mine.label_names() != their.label_names():
            problems.append(
                (
                    "labels",
                    f"labels {sorted(mine.label_names())}, node_exporter "
                    f"{sorted(their.label_names())}",
                )
            )
        elif set(got) != set(wanted):
            problems.append(
                (
                    "series",
                    f"only the agent {sorted(map(_fmt, set(got) - set(wanted)))[:5]}, only "
                    f"node_exporter {sorted(map(_fmt, set(wanted) - set(got)))[:5]}",
                )
            )
        elif name not in live and not name.startswith(LIVE_PREFIXES):
            wrong = [
                f"{_fmt(key)} = {got[key]}, node_exporter {value}"
                for key, value in sorted(wanted.items())
                if not _close(got[key], value)
            ]
            if wrong:
                problems.append(("values", "; ".join(wrong[:5])))
        report.covered.append(name)
        for aspect, detail in problems:
            if known and (name, aspect) in known:
                report.known.append(f"{name}: {detail} [{known[(name, aspect)]}]")
                continue
            if newer_family is not None and _matches_newer(aspect, mine, newer_family, their):
                report.changed_in_newer.append(f"{name}: {aspect}")
                continue
            report.mismatches.append(f"{name}: {detail}")
    return report


def _matches_newer(aspect: str, mine: Family, newer: Family, older: Family) -> bool:
    """The agent agrees with the newer node_exporter on `aspect`, where the newer one differs
    from the older: a change node_exporter made, not a mismatch."""
    if aspect == "type":
        return mine.type == newer.type != older.type
    if aspect == "help":
        return mine.help == newer.help != older.help
    if aspect == "labels":
        return mine.label_names() == newer.label_names() != older.label_names()
    if aspect == "series":
        return set(_series(mine)) == set(_series(newer)) != set(_series(older))
    return False


def hwmon_collisions(ours: dict[str, Family], theirs: dict[str, Family]) -> set[str]:
    """Chip labels node_exporter (before 1.12) gives several hwmon directories at once: labels it
    uses that the agent does not, while the agent has labels extending them."""

    def chips(page: dict[str, Family]) -> set[str]:
        return {
            dict(s.labels).get("chip", "")
            for name, f in page.items()
            if name.startswith(HWMON_PREFIX)
            for s in f.samples
        }

    mine, their = chips(ours), chips(theirs)
    return {c for c in their - mine if any(m.startswith(c + "_") for m in mine)}


def hwmon_ignorer(collisions: set[str]) -> Callable[[str, Labels], bool]:
    """Leave out hwmon series of colliding chips, on both sides (node_exporter 1.9 publishes one
    arbitrary directory's values under the shared label; the agent gives each its own)."""

    def ignore(name: str, labels: Labels) -> bool:
        if not name.startswith(HWMON_PREFIX):
            return False
        chip = dict(labels).get("chip", "")
        return any(chip == c or chip.startswith(c + "_") for c in collisions)

    return ignore


def summary(report: Report) -> str:
    families = len(report.theirs)
    return (
        f"families {len(report.covered)} of {families}, series {report.series_covered} of "
        f"{report.series_total}"
    )
