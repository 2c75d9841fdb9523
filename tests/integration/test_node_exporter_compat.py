"""The agent's host series against node_exporter's own output on this machine, for node_exporter
1.5 (this host's Debian 12 package) and 1.9 (Debian 13's, which the agent targets): same names,
types, help, label names and label values, and values that agree (exactly for fixed quantities,
within what can change between two back-to-back samples otherwise). Against 1.5 a family may
differ where 1.9 changed it, if the agent matches 1.9 there. node_exporter runs with the agent's
default include/exclude filters, since Debian's build has other built-in defaults."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests import promtext
from tests.helpers import debian
from tests.helpers.agentproc import running_agent
from tests.promtext import Family, Labels

pytestmark = pytest.mark.integration

MiB = 1024.0 * 1024.0


@dataclass(frozen=True)
class Check:
    """How one family must agree. kind: "exact" (same value), "counter" (the agent's value lies
    between node_exporter's scrape before and after it, less `slack`), "gauge" (between the two,
    widened by `slack`, a gauge can move both ways) or "labels" (label sets only)."""

    type: str
    labels: frozenset[str]
    kind: str
    slack: float = 0.0


def _check(type_: str, labels: str, kind: str, slack: float = 0.0) -> Check:
    return Check(type_, frozenset(labels.split()), kind, slack)


NCPU = os.cpu_count() or 1
FS_LABELS = "device device_error fstype mountpoint"
# The series the issue lists, with how closely each must agree.
CHECKS: dict[str, Check] = {
    # /proc/stat in USER_HZ ticks; idle and iowait may step back a few ticks on a busy kernel.
    "node_cpu_seconds_total": _check("counter", "cpu mode", "counter", slack=0.1),
    "node_load1": _check("gauge", "", "gauge", slack=0.5),
    "node_load5": _check("gauge", "", "gauge", slack=0.2),
    "node_load15": _check("gauge", "", "gauge", slack=0.1),
    "node_memory_MemTotal_bytes": _check("gauge", "", "exact"),
    "node_memory_SwapTotal_bytes": _check("gauge", "", "exact"),
    "node_memory_MemAvailable_bytes": _check("gauge", "", "gauge", slack=64 * MiB),
    "node_memory_SwapFree_bytes": _check("gauge", "", "gauge", slack=16 * MiB),
    "node_filesystem_size_bytes": _check("gauge", FS_LABELS, "exact"),
    "node_filesystem_files": _check("gauge", FS_LABELS, "exact"),
    # Space moves with whatever writes meanwhile (this test's own logs included).
    "node_filesystem_avail_bytes": _check("gauge", FS_LABELS, "gauge", 64 * MiB),
    "node_filesystem_free_bytes": _check("gauge", FS_LABELS, "gauge", 64 * MiB),
    "node_filesystem_files_free": _check("gauge", FS_LABELS, "gauge", 1000),
    "node_disk_read_bytes_total": _check("counter", "device", "counter"),
    "node_disk_written_bytes_total": _check("counter", "device", "counter"),
    "node_disk_io_time_seconds_total": _check("counter", "device", "counter"),
    "node_network_receive_bytes_total": _check("counter", "device", "counter"),
    "node_network_transmit_bytes_total": _check("counter", "device", "counter"),
    "node_network_receive_errs_total": _check("counter", "device", "counter"),
    "node_network_receive_drop_total": _check("counter", "device", "counter"),
    "node_boot_time_seconds": _check("gauge", "", "exact"),
    "node_time_seconds": _check("gauge", "", "counter", slack=0.01),
    "node_uname_info": _check(
        "gauge", "domainname machine nodename release sysname version", "exact"
    ),
    # Instantaneous counts: anything may start or stop between samples, this test included.
    "node_procs_running": _check("gauge", "", "gauge", slack=2 * NCPU + 4),
    "node_procs_blocked": _check("gauge", "", "gauge", slack=NCPU + 4),
    "node_filefd_allocated": _check("gauge", "", "gauge", slack=512),
    "node_filefd_maximum": _check("gauge", "", "exact"),
    # Families added for compatibility beyond the issue's list.
    "node_network_mtu_bytes": _check("gauge", "device", "exact"),
    "node_network_speed_bytes": _check("gauge", "device", "exact"),
    "node_network_receive_packets_total": _check("counter", "device", "counter"),
    "node_network_transmit_errs_total": _check("counter", "device", "counter"),
    "node_os_version": _check("gauge", "id id_like name", "exact"),
    "node_disk_info": _check(
        "gauge", "device major minor model path revision rotational serial wwn", "exact"
    ),
    "node_pressure_cpu_waiting_seconds_total": _check("counter", "", "counter"),
    "node_pressure_io_stalled_seconds_total": _check("counter", "", "counter"),
    "node_pressure_memory_waiting_seconds_total": _check("counter", "", "counter"),
    "node_softnet_processed_total": _check("counter", "cpu", "counter"),
    "node_time_clocksource_current_info": _check("gauge", "clocksource device", "exact"),
    "node_processes_max_processes": _check("gauge", "", "exact"),
}

# Families the agent exposes under node_* that the generic check treats specially, and why.
ALLOW_ABSENT_IN_NODE_EXPORTER = {
    # Exposed only where hwmon temperature sensors exist; node_exporter then has them too.
    "node_hwmon_temp_celsius": "hwmon sensors",
}
# Labels whose values differ from node_exporter 1.9.0 by design (tests/parity.py KNOWN_19).
KNOWN_LABEL_DIFFERENCES_19 = {"node_disk_info": {"rotational"}}
VERSIONS = ("1.9", "1.5")
# Families whose label *values* legitimately differ between two samples taken moments apart.
VOLATILE_LABEL_VALUES = {
    "node_scrape_collector_duration_seconds": "collector labels are the agent's collector names",
    "node_scrape_collector_success": "collector labels are the agent's collector names",
    "node_processes_state": "a process state (e.g. Z, D) may be held by no process a moment later",
}


@dataclass
class Pages:
    before: dict[str, Family]  # node_exporter, scraped before the agent's collection started
    agent: dict[str, Family]  # the agent's page from a collection that started after `before`
    after: dict[str, Family]  # node_exporter, scraped after that page was published
    agent_text: str
    node_exporter_text: str
    version: str = "1.9"
    other: dict[str, Family] | None = None  # the other node_exporter version's page
    other_text: str = ""


def _collection_time(families: dict[str, Family]) -> float:
    family = families.get("aiops_agent_last_collection_timestamp_seconds")
    return family.samples[0].value if family and family.samples else 0.0


def scrape_bracketed(node_exporter_url: str, agent_url: str) -> Pages:
    """node_exporter, then the agent's first page collected after that scrape ended, then
    node_exporter again: every agent reading was taken between node_exporter's two."""
    before_text = promtext.fetch(node_exporter_url)
    ended = time.time()
    deadline = time.monotonic() + 15
    while True:
        agent_text = promtext.fetch(f"{agent_url}/metrics")
        agent = promtext.parse(agent_text)
        if _collection_time(agent) > ended:
            break
        assert time.monotonic() < deadline, "the agent published no new collection within 15s"
        time.sleep(0.05)
    after_text = promtext.fetch(node_exporter_url)
    return Pages(
        promtext.parse(before_text),
        agent,
        promtext.parse(after_text),
        agent_text,
        before_text,
    )


@pytest.fixture(scope="module")
def exporters() -> Iterator[dict[str, str]]:
    """Both node_exporters and the agent, running side by side; {name: URL}."""
    with (
        promtext.node_exporter() as ne15,
        promtext.node_exporter(binary=str(debian.node_exporter_19())) as ne19,
        running_agent({}) as agent,
    ):
        yield {"1.5": ne15, "1.9": ne19, "agent": agent.url}


@pytest.fixture(scope="module", params=VERSIONS)
def pages(request: pytest.FixtureRequest, exporters: dict[str, str]) -> Pages:
    version = str(request.param)
    found = scrape_bracketed(exporters[version], exporters["agent"])
    found.version = version
    other = "1.5" if version == "1.9" else "1.9"
    found.other_text = promtext.fetch(exporters[other])
    found.other = promtext.parse(found.other_text)
    return found


def _newer(pages: Pages, name: str) -> Family | None:
    """1.9's family when comparing with 1.5, else None."""
    return pages.other.get(name) if pages.version == "1.5" and pages.other else None


def _project(values: dict[Labels, float], names: set[str]) -> dict[Labels, float]:
    """Series keyed by the given label names only (1.5 lacks labels 1.9 added)."""
    return {tuple(p for p in labels if p[0] in names): v for labels, v in values.items()}


def _fmt(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_listed_series_match_node_exporter(pages: Pages, name: str) -> None:
    check = CHECKS[name]
    ours, before, after = pages.agent.get(name), pages.before.get(name), pages.after.get(name)
    assert before is not None and after is not None, f"node_exporter does not expose {name}"
    assert ours is not None, f"the agent does not expose {name}"
    newer = _newer(pages, name)
    assert ours.type == before.type == check.type, (name, ours.type, before.type)
    assert ours.help == before.help or (newer is not None and ours.help == newer.help), (
        f"{name}: help {ours.help!r} vs {before.help!r}"
    )
    assert ours.label_names() == check.labels, (name, sorted(ours.label_names()))
    theirs_labels = before.label_names()
    if pages.version == "1.9":
        theirs_labels -= KNOWN_LABEL_DIFFERENCES_19.get(name, set())
    assert theirs_labels <= check.labels, (name, sorted(theirs_labels))
    if theirs_labels != check.labels:  # labels node_exporter 1.9 added (or 1.9.0 gets wrong)
        assert pages.version == "1.9" or (newer and newer.label_names() == check.labels), name
    our_values = _project(ours.by_labels(), theirs_labels)
    values_before = _project(before.by_labels(), theirs_labels)
    values_after = _project(after.by_labels(), theirs_labels)
    assert our_values, f"{name}: no samples"
    # Same devices, mount points, CPUs and modes.
    assert set(our_values) == set(values_before) == set(values_after), (
        f"{name}: label sets differ: only agent "
        f"{sorted(map(_fmt, set(our_values) - set(values_before)))}, only node_exporter "
        f"{sorted(map(_fmt, set(values_before) - set(our_values)))}"
    )
    problems = []
    for labels, value in sorted(our_values.items()):
        low, high = values_before[labels], values_after[labels]
        if check.kind == "exact":
            ok = value == low == high
            expected = f"== {low}"
        else:
            if check.kind == "gauge":
                low, high = min(low, high), max(low, high)
            ok = low - check.slack <= value <= high + check.slack
            expected = f"in [{low} - {check.slack}, {high} + {check.slack}]"
        if not ok:
            problems.append(f"{name}{_fmt(labels)} = {value}, expected {expected}")
    assert not problems, "\n".join(problems)


def test_every_node_family_exists_in_node_exporter(pages: Pages) -> None:
    """A generic guard, so a future collector cannot drift: each node_* family the agent exposes
    is in node_exporter 1.9's or 1.5's output with that version's type, help and label names,
    and (unless volatile) label values."""
    problems = []
    ours = {n: f for n, f in pages.agent.items() if n.startswith("node_") and f.samples}
    assert len(ours) > 50, f"suspiciously few node_* families: {sorted(ours)}"
    for name, family in sorted(ours.items()):
        theirs = pages.before.get(name)
        other = (pages.other or {}).get(name)
        if theirs is None or not theirs.samples:
            # Only in the other version (1.9's new families, or meminfo fields 1.9 dropped).
            if (other is None or not other.samples) and name not in ALLOW_ABSENT_IN_NODE_EXPORTER:
                problems.append(f"{name}: not in node_exporter's output")
            continue
        newer = _newer(pages, name)
        for aspect, mine, their, new in (
            ("type", family.type, theirs.type, newer.type if newer else None),
            ("help", family.help, theirs.help, newer.help if newer else None),
            (
                "labels",
                family.label_names(),
                theirs.label_names(),
                newer.label_names() if newer else None,
            ),
        ):
            if mine != their and mine != new:
                problems.append(f"{name}: {aspect} {mine!r}, node_exporter {their!r}")
        if family.label_names() != theirs.label_names() or name in VOLATILE_LABEL_VALUES:
            continue  # label values of a family 1.9 relabelled are checked against 1.9
        names = family.label_names()
        if pages.version == "1.9":
            names -= KNOWN_LABEL_DIFFERENCES_19.get(name, set())
        mine_series = set(_project(family.by_labels(), names))
        before = set(_project(theirs.by_labels(), names))
        after_family = pages.after.get(name)
        after = set(_project(after_family.by_labels(), names)) if after_family else set()
        if mine_series not in (before, after):
            problems.append(
                f"{name}: label values only in the agent "
                f"{sorted(map(_fmt, mine_series - before))}, only in node_exporter "
                f"{sorted(map(_fmt, before - mine_series))}"
            )
    assert not problems, "\n".join(problems)


def test_compared_families_have_the_issue_s_units(pages: Pages) -> None:
    """Seconds, bytes and ratios, not ticks, sectors or kilobytes: sanity bounds that would catch a
    unit slip even if node_exporter made the same one."""
    agent = pages.agent
    boot = agent["node_boot_time_seconds"].samples[0].value
    now = agent["node_time_seconds"].samples[0].value
    assert 0 < now - boot < 10 * 365 * 86400
    cpu_seconds = agent["node_cpu_seconds_total"].by_labels()
    per_cpu: dict[str, float] = {}
    for labels, value in cpu_seconds.items():
        cpu = dict(labels)["cpu"]
        per_cpu[cpu] = per_cpu.get(cpu, 0.0) + value
    for cpu, total in per_cpu.items():
        # Each CPU's modes add up to (at most) its uptime in seconds.
        assert total <= (now - boot) * 1.02 + 1, (cpu, total, now - boot)
    mem_total = agent["node_memory_MemTotal_bytes"].samples[0].value
    assert mem_total > 64 * MiB and mem_total % 1024 == 0


def test_promtool_lint_compatible_names(pages: Pages) -> None:
    """With node_exporter's names, the only lint findings are the camelCase /proc/meminfo and
    /proc/net/netstat names and the entropy families' bits, which node_exporter's own page draws
    identically."""
    ours = promtext.promtool_check_metrics(pages.agent_text)
    theirs = promtext.promtool_check_metrics(pages.node_exporter_text)
    expected = re.compile(
        r"^(node_(memory|netstat)_\w+ metric names should be written in 'snake_case' not"
        r"|node_entropy_\w+_bits use base unit \"bytes\" instead of \"bits\")"
    )
    assert {f for f in ours if not expected.match(f)} == set(), sorted(ours)
    # Either version's: the agent keeps meminfo fields 1.9 dropped and has 1.9's netstat fields.
    theirs |= promtext.promtool_check_metrics(pages.other_text)
    assert ours <= theirs, f"findings node_exporter does not have: {sorted(ours - theirs)}"


def test_promtool_lint_own_names() -> None:
    """With metrics.node_exporter_names false, the page is lint-clean."""
    with running_agent({"metrics": {"node_exporter_names": False}}) as agent:
        text = agent.metrics()
    families = promtext.parse(text)
    assert not [n for n in families if n.startswith("node_")]
    assert "aiops_host_memory_mem_total_bytes" in families
    assert "aiops_host_cpu_seconds_total" in families
    findings = promtext.promtool_check_metrics(text)
    assert findings == set(), sorted(findings)
