"""The agent against node_exporter 1.5 (this host's) and 1.9 (Debian 13's) on host trees other
than this machine: Prometheus procfs' own fixtures (from Debian's package) and a synthetic host
with the hardware this machine lacks (hosttrees.py). All three read the same tree; every family
both exporters publish must agree in type, help, label names, series and values. Against 1.5 a
difference counts as a change of 1.9's when the agent matches 1.9 there (tests/parity.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import parity, promtext
from tests.helpers import debian, hosttrees

pytestmark = pytest.mark.integration

# Families the agent publishes on a tree that node_exporter does not, and why.
AGENT_ONLY = {
    # node_exporter reads it over netlink from the running kernel, which no tree can replace.
    "node_network_receive_nohandler_total",
    # node_exporter's processes collector counts nothing from a tree without full /proc/PID.
    "node_processes_pids",
    "node_processes_state",
    "node_processes_threads",
}


@pytest.fixture(scope="module", params=["procfs", "synthetic"])
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "procfs":
        return hosttrees.procfs_tree()
    return hosttrees.synthetic_tree(tmp_path_factory.mktemp("synthetic") / "host")


@pytest.fixture(scope="module")
def pages(tree: Path) -> Iterator[dict[str, dict[str, promtext.Family]]]:
    found: dict[str, dict[str, promtext.Family]] = {
        "agent": promtext.parse(hosttrees.agent_page(tree))
    }
    for version, binary in (("1.5", None), ("1.9", str(debian.node_exporter_19()))):
        flags = hosttrees.node_exporter_tree_flags(tree, version)
        with promtext.node_exporter(binary=binary, extra_flags=flags) as url:
            found[version] = promtext.parse(promtext.fetch(url))
    yield found


@pytest.mark.parametrize("version", ["1.9", "1.5"])
def test_no_mismatch_in_a_covered_family(
    pages: dict[str, dict[str, promtext.Family]], version: str
) -> None:
    ours = pages["agent"]
    collisions = parity.hwmon_collisions(ours, pages["1.9"])
    report = parity.compare(
        ours,
        pages[version],
        newer_page=pages["1.9"] if version == "1.5" else None,
        known=parity.KNOWN_19,
        ignore_series=parity.hwmon_ignorer(collisions),
    )
    print(f"\nnode_exporter {version}: {parity.summary(report)}")
    assert report.mismatches == [], "\n".join(report.mismatches)
    assert len(report.covered) > 100, parity.summary(report)


def test_agent_families_exist_in_node_exporter_19(
    pages: dict[str, dict[str, promtext.Family]],
) -> None:
    extra = set(parity.host_families(pages["agent"])) - set(parity.host_families(pages["1.9"]))
    assert extra <= AGENT_ONLY, sorted(extra - AGENT_ONLY)


def test_synthetic_tree_edge_cases(tmp_path: Path) -> None:
    """What the synthetic tree is for, checked on the agent's page directly."""
    root = hosttrees.synthetic_tree(tmp_path / "host")
    page = promtext.parse(hosttrees.agent_page(root))  # refuses duplicate series
    chips = {dict(s.labels)["chip"] for s in page["node_hwmon_temp_celsius"].samples}
    assert chips == {
        "platform_coretemp_0",
        "pci0000:00_0000:00:02_0",
        "ieee80211_phy0_hwmon2",  # two directories share the name file iwlwifi_1
        "ieee80211_phy0_hwmon3",
        "ieee80211_phy0_iwlwifi_2",
    }
    speeds = page["node_network_speed_bytes"].by_labels()
    assert speeds[(("device", "bond0"),)] == -125000  # -1 Mbit/s, reported as node_exporter does
    assert {dict(k)["device"] for k in page["node_network_up"].by_labels()} == {
        "eth0",
        "bond0",
        "vlan.100",
        "br-1a2b_x",
    }
    online = {dict(k)["cpu"]: v for k, v in page["node_cpu_online"].by_labels().items()}
    assert online == {"0": 1, "1": 1, "2": 0, "3": 1}
    softnet_cpus = {dict(k)["cpu"] for k in page["node_softnet_processed_total"].by_labels()}
    assert softnet_cpus == {"0", "1", "3"}
