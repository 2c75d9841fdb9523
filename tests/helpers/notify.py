"""For tests of the notifier in-process: a dispatcher's config from plain data (fast retries) and
the value of its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aiops_agent.config import Config, load_config
from aiops_agent.notify.dispatcher import Dispatcher

HOST = "testhost"
FAST_OUTBOX = {"backoff_base": "50ms", "backoff_max": "500ms"}


def config_for(
    tmp_path: Path, receivers: dict[str, Any], routes: list[Any], **outbox: Any
) -> Config:
    document = {
        "agent": {"hostname": HOST},
        "http": {"listen": "127.0.0.1:9877"},
        "receivers": receivers,
        "routes": routes,
        "outbox": {**FAST_OUTBOX, **outbox},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_config(str(path), {}, required=True)


def metric(dispatcher: Dispatcher, name: str, **labels: str) -> float:
    """The sum of the samples of family `name` whose labels include `labels`."""
    total = 0.0
    for family in dispatcher.metrics():
        if family.name == name:
            for sample_labels, value, _ in family.samples:
                if all(dict(sample_labels).get(k) == v for k, v in labels.items()):
                    total += value
    return total
