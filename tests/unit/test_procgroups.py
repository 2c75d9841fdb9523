"""collectors.process_groups: processes counted and their resident memory summed per named group,
matched on the command name and/or line, against a fake /proc and this machine's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiops_agent.base.model import MetricFamily
from aiops_agent.collectors import build_collectors
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config import ConfigError, load_config
from aiops_agent.config.schema import CollectorsSection, ProcessGroup, ProcessGroupsCollector

PAGE = os.sysconf("SC_PAGE_SIZE")


def stat_line(pid: int, comm: str, rss_pages: int) -> str:
    # pid (comm) state, then fields 4..23, rss is field 24.
    return f"{pid} ({comm}) S " + " ".join(["0"] * 20) + f" {rss_pages} 0 0\n"


def by_group(families: list[MetricFamily], name: str) -> dict[str, float]:
    (family,) = [f for f in families if f.name == name]
    return {dict(s.labels)["group"]: s.value for s in family.samples}


def collectors_for(groups: dict[str, ProcessGroup], root: str) -> list[str]:
    section = CollectorsSection(process_groups=ProcessGroupsCollector(groups=groups))
    return [c.name for c in build_collectors(section, HostPaths.under(root))]


@pytest.fixture
def proc_tree(tmp_path: Path) -> Path:
    processes = {
        101: ("nginx", 100, b"nginx: master process /usr/sbin/nginx\0"),
        102: ("nginx", 50, b"nginx: worker process\0"),
        200: ("python3", 1000, b"/usr/bin/python3\0/opt/app/worker.py\0--queue\0jobs\0"),
        # A command name with a space and parentheses: fields resume after the last ")".
        300: ("we (ird) one", 7, b"/bin/weird\0"),
    }
    for pid, (comm, rss, cmdline) in processes.items():
        directory = tmp_path / "proc" / str(pid)
        directory.mkdir(parents=True)
        (directory / "stat").write_text(stat_line(pid, comm, rss))
        (directory / "cmdline").write_bytes(cmdline)
    (tmp_path / "proc" / "self").mkdir()
    return tmp_path


def test_groups_by_comm_and_cmdline(proc_tree: Path) -> None:
    groups = {
        "nginx": ProcessGroup(comm="nginx"),
        "worker": ProcessGroup(comm="python3", cmdline=r".*/worker\.py .*"),
        "weird": ProcessGroup(comm=r"we \(ird\) one"),
        "absent": ProcessGroup(comm="postgres"),
        "nginx-workers": ProcessGroup(cmdline="nginx: worker.*"),
    }
    section = CollectorsSection(process_groups=ProcessGroupsCollector(groups=groups))
    (collector,) = [
        c
        for c in build_collectors(section, HostPaths.under(str(proc_tree)))
        if c.name == "process_groups"
    ]
    families = collector.collect()
    assert by_group(families, "aiops_agent_process_group_processes") == {
        "absent": 0,
        "nginx": 2,
        "nginx-workers": 1,
        "weird": 1,
        "worker": 1,
    }
    assert by_group(families, "aiops_agent_process_group_resident_memory_bytes") == {
        "absent": 0,
        "nginx": 150 * PAGE,
        "nginx-workers": 50 * PAGE,
        "weird": 7 * PAGE,
        "worker": 1000 * PAGE,
    }


def test_runs_only_when_groups_are_named(proc_tree: Path) -> None:
    assert "process_groups" not in collectors_for({}, str(proc_tree))
    assert "process_groups" in collectors_for({"x": ProcessGroup(comm="x")}, str(proc_tree))


def test_a_group_needs_a_pattern() -> None:
    with pytest.raises(ValueError, match="needs comm or cmdline"):
        ProcessGroup()


def test_this_machine_sees_a_process_come_and_go(tmp_path: Path) -> None:
    marker = f"aiops-procgroup-test-{os.getpid()}"
    groups = {"child": ProcessGroup(cmdline=f".* {marker}")}
    section = CollectorsSection(process_groups=ProcessGroupsCollector(groups=groups))
    (collector,) = [
        c for c in build_collectors(section, HostPaths.under("/")) if c.name == "process_groups"
    ]
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(60)", marker])
    try:
        families = collector.collect()
        assert by_group(families, "aiops_agent_process_group_processes") == {"child": 1}
        assert by_group(families, "aiops_agent_process_group_resident_memory_bytes")["child"] > 0
    finally:
        child.kill()
        child.wait()
    assert by_group(collector.collect(), "aiops_agent_process_group_processes") == {"child": 0}


def test_config_errors_name_the_group_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "collectors:\n"
        "  process_groups:\n"
        "    groups:\n"
        "      web: {comm: nginx}\n"
        "      empty: {}\n"
        "      broken: {cmdline: 'a('}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {}, required=True)
    found = [str(p) for p in caught.value.problems]
    assert any(
        "config.yaml:5: collectors.process_groups.groups.empty: a process group needs comm" in p
        for p in found
    ), found
    assert any(
        "config.yaml:6: collectors.process_groups.groups.broken.cmdline: invalid regular" in p
        for p in found
    ), found
