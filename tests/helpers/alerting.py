"""For tests of the alerting plugin in-process: a sink that records what it is given, configs
from plain data, the plugin's context and hand-made host families."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aiops_agent.base.events import AlertEvent
from aiops_agent.base.model import MetricFamily, Sample, counter, gauge
from aiops_agent.config import Config, load_config
from aiops_agent.plugins import AgentContext

AGENT_URL = "http://h1:9877"


class FakeSink:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []
        self.closed = False
        self.reconfigured = 0

    def submit(self, events: list[AlertEvent]) -> None:
        self.events.extend(events)

    def metrics(self) -> list[MetricFamily]:
        return [gauge("fake_sink_up", "", [Sample((), 1.0)])]

    def reconfigure(self, config: Config) -> None:
        self.reconfigured += 1

    def close(self, timeout: float) -> None:
        self.closed = True


def config_from(tmp_path: Path, data: dict[str, Any]) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(str(path), {}, required=True)


def context(state_dir: Path) -> AgentContext:
    return AgentContext(str(state_dir), lambda: AGENT_URL)


def host_families(
    prefix: str = "node_", cpu: float = 0.2, used: float = 0.5, inodes_free: float = 900.0
) -> list[MetricFamily]:
    fs = (("device", "/dev/sda1"), ("fstype", "ext4"), ("mountpoint", "/"))
    return [
        gauge("aiops_agent_cpu_utilization_ratio", "", [Sample((), cpu)]),
        gauge("aiops_agent_filesystem_used_ratio", "", [Sample(fs, used)]),
        gauge(f"{prefix}filesystem_files", "", [Sample(fs, 1000.0)]),
        gauge(f"{prefix}filesystem_files_free", "", [Sample(fs, inodes_free)]),
        counter(f"{prefix}network_receive_bytes_total", "", [Sample((("device", "eth0"),), 1e6)]),
    ]
