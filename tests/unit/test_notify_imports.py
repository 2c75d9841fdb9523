"""What notifications cost in imports: an agent that only logs its alerts loads neither sqlite3
nor requests; one with an HTTP receiver loads sqlite3 for its outbox, and requests only when it
first delivers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, sys, tempfile, time
from aiops_agent.base.events import AlertEvent
from aiops_agent.config import load_config
from aiops_agent.notify import create_dispatcher

dispatcher = create_dispatcher(
    load_config(sys.argv[1], {}, required=True), tempfile.mkdtemp(), lambda: "http://h:9877"
)
after_start = {m: m in sys.modules for m in ("sqlite3", "requests", "smtplib")}
dispatcher.submit([AlertEvent("f", "firing", {"alertname": "A"}, {}, 1.0, None, 1.0, "r", 1)])


def attempts():
    # Finished attempts: the attempts counter goes up before the request, its outcome after.
    return sum(
        sample.value
        for family in dispatcher.metrics()
        if family.name in (
            "aiops_agent_notifications_sent_total", "aiops_agent_notifications_failures_total"
        )
        for sample in family.samples
    )


deadline = time.monotonic() + 30  # until the receiver was tried: logged, or POSTed to
while not attempts() and time.monotonic() < deadline:
    time.sleep(0.02)
assert attempts(), "the receiver was never tried"
after_submit = {m: m in sys.modules for m in ("sqlite3", "requests", "smtplib")}
dispatcher.close(1)
print(json.dumps([after_start, after_submit]))
"""


def probe(tmp_path: Path, config: str) -> list[dict[str, bool]]:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    found: list[dict[str, bool]] = json.loads(result.stdout)
    return found


def test_log_only_loads_neither_sqlite3_nor_requests(tmp_path: Path) -> None:
    started, submitted = probe(tmp_path, "")
    assert started == submitted == {"sqlite3": False, "requests": False, "smtplib": False}


def test_http_receiver_loads_requests_only_to_deliver(tmp_path: Path) -> None:
    config = (
        "receivers:\n  hook: {webhook: {url: 'http://127.0.0.1:9/x', timeout: 0.2}}\n"
        "routes:\n  - {receiver: hook}\n"
    )
    started, submitted = probe(tmp_path, config)
    assert started == {"sqlite3": True, "requests": False, "smtplib": False}
    assert submitted == {"sqlite3": True, "requests": True, "smtplib": False}
