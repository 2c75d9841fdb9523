"""collectors.process_groups: process-exporter's namedprocess_namegroup_* series per group,
configured like its process_names (comm, exe, cmdline regex, name templates), over a fake process
table and this machine's own processes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from aiops_agent.base.logs import RateLimitedLog
from aiops_agent.base.model import MetricFamily
from aiops_agent.collectors import CollectorStats, build_collectors, collect_once
from aiops_agent.collectors.host import HostPaths
from aiops_agent.collectors.procgroups import ProcessGroupsCollector
from aiops_agent.collectors.proctable import ProcessTable
from aiops_agent.config import ConfigError, load_config
from aiops_agent.config.schema import CollectorsSection, ProcessName
from aiops_agent.config.schema import ProcessGroupsCollector as GroupsSettings
from tests.helpers.fakeprocs import Clock, FakeApi, table_of


def samples(families: list[MetricFamily], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    (family,) = [f for f in families if f.name == name]
    return {s.labels: s.value for s in family.samples}


def per_group(families: list[MetricFamily], name: str) -> dict[str, float]:
    return {dict(labels)["groupname"]: v for labels, v in samples(families, name).items()}


def fake_host() -> FakeApi:
    api = FakeApi()
    api.add(101, name="nginx", cmdline=["nginx: master process /usr/sbin/nginx"],
            exe="/usr/sbin/nginx", num_threads=1, status="sleeping")  # fmt: skip
    api.add(102, name="nginx", cmdline=["nginx: worker process"], exe="/usr/sbin/nginx",
            num_threads=4, status="running",
            memory_info=SimpleNamespace(rss=5000, vms=9000))  # fmt: skip
    api.add(200, name="python3", cmdline=["/usr/bin/python3", "/opt/app/worker.py", "--queue",
            "jobs"], exe="/usr/bin/python3.11", create_time=50.0)  # fmt: skip
    api.add(300, name="python3", cmdline=["/usr/bin/python3", "-m", "http.server"],
            exe="/usr/bin/python3.11", status="zombie")  # fmt: skip
    return api


def collector_for(
    api: FakeApi, *entries: ProcessName, max_groups: int = 100
) -> tuple[ProcessGroupsCollector, ProcessTable]:
    table = table_of(api, want_exe=True)
    settings = GroupsSettings(process_names=list(entries), max_groups=max_groups)
    return ProcessGroupsCollector(settings, table), table


def test_groups_by_comm_exe_and_cmdline_with_templates() -> None:
    api = fake_host()
    collector, table = collector_for(
        api,
        ProcessName(name="{{.Comm}}", comm=["nginx"]),
        ProcessName(name="py:{{.Matches.job}}", cmdline=[r"/opt/app/(?P<job>\w+)\.py"]),
        ProcessName(name="{{.ExeBase}}", exe=["/usr/bin/python3.11"]),
    )
    table.scan()
    families = collector.collect()
    assert per_group(families, "namedprocess_namegroup_num_procs") == {
        "nginx": 2,
        "py:worker": 1,  # the first matching entry wins
        "python3.11": 1,
    }
    assert per_group(families, "namedprocess_namegroup_num_threads")["nginx"] == 5
    memory = samples(families, "namedprocess_namegroup_memory_bytes")
    assert memory[(("groupname", "nginx"), ("memtype", "resident"))] == 6000
    assert memory[(("groupname", "nginx"), ("memtype", "virtual"))] == 11000
    states = samples(families, "namedprocess_namegroup_states")
    assert states[(("groupname", "nginx"), ("state", "Running"))] == 1
    assert states[(("groupname", "nginx"), ("state", "Sleeping"))] == 1
    assert states[(("groupname", "python3.11"), ("state", "Zombie"))] == 1
    oldest = per_group(families, "namedprocess_namegroup_oldest_start_time_seconds")
    assert oldest["py:worker"] == 50.0
    assert per_group(families, "namedprocess_namegroup_open_filedesc")["nginx"] == 6
    assert per_group(families, "namedprocess_namegroup_worst_fd_ratio")["nginx"] == 3 / 1024


def test_counters_never_go_down_when_a_process_exits() -> None:
    api, clock = FakeApi(), Clock()
    api.add(1, name="app", cpu_times=SimpleNamespace(user=10.0, system=2.0))
    api.add(2, name="app", cpu_times=SimpleNamespace(user=5.0, system=1.0))
    table = table_of(api, clock)
    settings = GroupsSettings(process_names=[ProcessName(comm=["app"])])
    collector = ProcessGroupsCollector(settings, table)
    table.scan()
    cpu = "namedprocess_namegroup_cpu_seconds_total"
    assert samples(collector.collect(), cpu)[(("groupname", "app"), ("mode", "user"))] == 15.0
    api.table[1]["cpu_times"] = SimpleNamespace(user=11.0, system=2.0)
    del api.table[2]  # exits: its 5 s stay counted
    table.scan()
    families = collector.collect()
    assert samples(families, cpu)[(("groupname", "app"), ("mode", "user"))] == 16.0
    assert per_group(families, "namedprocess_namegroup_num_procs") == {"app": 1}


def test_a_template_naming_too_many_groups_is_capped() -> None:
    api = FakeApi()
    for pid in range(10, 20):
        api.add(pid, name=f"w{pid}")
    collector, table = collector_for(api, ProcessName(cmdline=["."]), max_groups=3)
    table.scan()
    families = collector.collect()
    assert len(per_group(families, "namedprocess_namegroup_num_procs")) == 3
    assert samples(families, "namedprocess_groups_dropped_total")[()] == 7


def test_runs_only_when_process_names_are_given(tmp_path: Path) -> None:
    def names(entries: list[ProcessName]) -> list[str]:
        section = CollectorsSection(process_groups=GroupsSettings(process_names=entries))
        return [c.name for c in build_collectors(section, HostPaths.under(str(tmp_path)))]

    assert "process_groups" not in names([])
    assert "process_table" not in names([])
    assert names([ProcessName(comm=["x"])])[:1] == ["process_table"]
    assert "process_groups" in names([ProcessName(comm=["x"])])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "needs comm, exe or cmdline"),
        ({"comm": ["x"], "name": "{{.Pid}}"}, "unknown template field"),
        ({"cmdline": ["(?P<a>x)"], "name": "{{.Matches.b}}"}, "no cmdline group named 'b'"),
    ],
)
def test_a_bad_entry_is_refused(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProcessName(**entry)  # type: ignore[arg-type]


def test_this_machine_sees_a_process_come_and_go() -> None:
    marker = f"aiops-procgroup-test-{os.getpid()}"
    entry = ProcessName(name="child", cmdline=[f" {marker}$"])
    section = CollectorsSection(process_groups=GroupsSettings(process_names=[entry]))
    collectors = build_collectors(section, HostPaths.under("/"))
    stats: dict[str, CollectorStats] = {}

    def collect() -> list[MetricFamily]:

        return collect_once(collectors, stats, RateLimitedLog(logging.getLogger("t")), True)

    child = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(60)", marker])
    try:
        families = collect()
        assert per_group(families, "namedprocess_namegroup_num_procs") == {"child": 1}
        memory = samples(families, "namedprocess_namegroup_memory_bytes")
        assert memory[(("groupname", "child"), ("memtype", "resident"))] > 0
    finally:
        child.kill()
        child.wait()
    assert per_group(collect(), "namedprocess_namegroup_num_procs") == {"child": 0}


def test_config_errors_name_the_entry_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "collectors:\n"
        "  process_groups:\n"
        "    process_names:\n"
        "      - {comm: [nginx]}\n"
        "      - {name: x}\n"
        "      - {cmdline: ['a(']}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {}, required=True)
    found = [str(p) for p in caught.value.problems]
    assert any(
        "config.yaml:5: collectors.process_groups.process_names.1: a process_names entry needs" in p
        for p in found
    ), found
    assert any(
        "config.yaml:6: collectors.process_groups.process_names.2.cmdline" in p
        and "invalid regular" in p
        for p in found
    ), found
