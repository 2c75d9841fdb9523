"""Delivery that loses nothing, with real processes: a receiver that is down while alerts fire, the
delivering process SIGKILLed (twice, once mid-delivery), restarted, the receiver back: every
acknowledged notification arrives, duplicates carry the same idempotency key. And a full disk
under the state directory: nothing crashes, the write errors are counted, alerts still arrive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import yaml

from aiops_agent.base.events import AlertEvent
from aiops_agent.notify import create_dispatcher
from tests.helpers.notify import alerts_in, config_for, metric
from tests.helpers.ports import reserve
from tests.helpers.receivers import Behaviour, Received, Recorder
from tests.helpers.wait import eventually

pytestmark = pytest.mark.integration

# Submits events FIRST..LAST-1 one by one, printing "ack N" once submit() returned (the event is
# durably enqueued), then keeps delivering until SIGTERM.
HARNESS = r"""
import signal, sys, threading, time
from aiops_agent.base.events import AlertEvent
from aiops_agent.config import load_config
from aiops_agent.notify import create_dispatcher

config_path, state_dir, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
dispatcher = create_dispatcher(
    load_config(config_path, {}, required=True), state_dir, lambda: "http://h:9877"
)
for n in range(first, last):
    labels = {"alertname": "Drill", "severity": "critical", "n": str(n)}
    event = AlertEvent(f"{n:016x}", "firing", labels, {}, 1.7e9 + n, None, float(n), "drill", 1)
    dispatcher.submit([event])
    print(f"ack {n}", flush=True)
    time.sleep(0.002)
print("submitted", flush=True)
stop.wait()
dispatcher.close(5)
"""


class Harness:
    def __init__(self, config: Path, state: Path, first: int, last: int) -> None:
        self.acked: list[int] = []
        self.done = threading.Event()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-c", HARNESS, str(config), str(state), str(first), str(last)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            text = line.decode().strip()
            if text.startswith("ack "):
                self.acked.append(int(text[4:]))
            elif text == "submitted":
                self.done.set()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(15) == 0


def test_nothing_is_lost_across_sigkill_and_a_dead_receiver(tmp_path: Path) -> None:
    total = 400
    reserved = reserve()  # bound, not listening yet: the receiver is down
    port = reserved.getsockname()[1]
    receivers = {"hook": {"webhook": {"url": f"http://127.0.0.1:{port}/hook", "timeout": "1s"}}}
    outbox = {"backoff_base": "20ms", "backoff_max": "200ms"}
    config_path = tmp_path / "config.yaml"
    # One group per alert ("..."): each acknowledged alert is one notification to account for.
    # (Groups of several alerts, and their state across SIGKILL, are tested in
    # test_notification_groups.py.)
    routes = [{"receiver": "hook", "group_by": ["..."]}]
    document = {"receivers": receivers, "routes": routes, "outbox": outbox}
    config_path.write_text(yaml.safe_dump(document))
    state = tmp_path / "state"

    # 1. Alerts fire while the receiver is down; the agent is SIGKILLed part-way.
    first = Harness(config_path, state, 0, total)
    assert eventually(lambda: len(first.acked) >= total // 4, 30)
    first.kill()
    sent = set(first.acked)

    # 2. The receiver comes back (slow, a few 500s and a 429); the agent restarts, submits more,
    #    and is SIGKILLed again mid-delivery.
    recorder = Recorder(reserved)
    recorder.default = Behaviour(delay=0.01)
    recorder.plan = [Behaviour(500), Behaviour(503), Behaviour(429, (("Retry-After", "1"),))]
    try:
        second = Harness(config_path, state, max(sent) + 1, total * 3 // 4)
        assert eventually(lambda: len(recorder.accepted()) >= total // 3, 60)
        second.kill()
        sent |= set(second.acked)

        # 3. A last restart submits the rest and delivers everything still pending.
        third = Harness(config_path, state, max(sent) + 1, total)
        assert third.done.wait(60)
        sent |= set(third.acked)
        alerts = {f"{n:016x}" for n in sent}
        assert eventually(lambda: alerts <= fingerprints(recorder.accepted()), 60)
        third.stop()
    finally:
        recorder.stop()

    accepted = recorder.accepted()
    by_key = Counter(r.headers["idempotency-key"] for r in accepted)
    bodies: dict[str, set[bytes]] = {}
    for received in accepted:
        bodies.setdefault(received.headers["idempotency-key"], set()).add(received.body)
    counts = {
        "sent": len(sent),
        "received": len(by_key),
        "deliveries": len(accepted),
        "duplicates": len(accepted) - len(by_key),
        "lost": len(alerts - fingerprints(accepted)),
        "refused_answers": len(recorder.received) - len(accepted),
    }
    print("delivery drill:", json.dumps(counts))
    (tmp_path / "counts.json").write_text(json.dumps(counts))
    assert counts["lost"] == 0
    assert counts["sent"] >= total * 3 // 4
    # A duplicate is the same notification: the same key, byte for byte the same body.
    assert all(len(variants) == 1 for variants in bodies.values())
    assert os.listdir(state / "outbox")  # the outbox lives under the state directory


def fingerprints(received: list[Received]) -> set[str]:
    return {fingerprint for fingerprint, _ in alerts_in([r.json() for r in received])}


@pytest.mark.needs_root
def test_full_disk_under_the_state_directory(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as the state directory needs root (CI runs as root)")
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(state)], check=True)
    recorder = Recorder()
    routes = [{"receiver": "hook", "group_by": ["..."]}]  # a notification per alert
    config = config_for(tmp_path, {"hook": {"webhook": {"url": recorder.url}}}, routes)
    dispatcher = create_dispatcher(config, str(state), lambda: "http://h:9877")
    try:
        dispatcher.submit([_event(0)])
        recorder.wait(1)
        filler = state / "filler"
        descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill the file system to the last block
            while os.write(descriptor, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(descriptor)
        for n in range(1, 101):
            dispatcher.submit([_event(n)])  # must not raise
        recorder.wait(101)
        write_errors = metric(dispatcher, "aiops_agent_outbox_write_errors_total")
        durable = metric(dispatcher, "aiops_agent_outbox_durable", receiver="hook")
        received = fingerprints(recorder.accepted())
        assert received == {_event(n).fingerprint for n in range(101)}

        filler.unlink()  # space again: enqueueing is durable again
        dispatcher.submit([_event(101)])
        recorder.wait(102)
        recovered = eventually(
            lambda: metric(dispatcher, "aiops_agent_outbox_durable", receiver="hook") == 1.0
        )
    finally:
        dispatcher.close(5)
        recorder.stop()
        subprocess.run(["umount", "-l", str(state)], check=False)
    print("full disk:", json.dumps({"write_errors": write_errors, "delivered": len(received)}))
    assert write_errors > 0 and durable == 0.0
    assert recovered


def _event(n: int) -> AlertEvent:
    # Large annotations, so the outbox needs new pages for each one.
    return AlertEvent(
        f"{n:016x}",
        "firing",
        {"alertname": "Disk", "n": str(n)},
        {"description": "x" * 8000},
        1.7e9 + n,
        None,
        1.0,
        "disk",
        1,
    )
