"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on loopback, and the webhook
receiver it notifies, for integration tests.

    with webhook_sink() as sink, running_alertmanager(sink.url) as am:
        ...agent with receivers: {am: {alertmanager: {url: am.url}}}...
        am.wait_alerts(lambda alerts: len(alerts) == 2)
        sink.wait(lambda s: s.statuses("MyAlert") >= {"firing", "resolved"})

Alertmanager runs with clustering off (--cluster.listen-address=), storage in a temporary
directory, group_wait/group_interval of 1s and every alert in a group of its own, so each firing
and each resolve reaches the webhook about a second later. It listens on a port the kernel picks;
stop() and start() restart it on that port and storage path: it keeps its silences and notification log there, but alerts live in
its memory only, which is why a client must re-send them after a restart.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from tests.helpers.ports import listening_port
from tests.helpers.receivers import Recorder
from tests.promtext import require_binary

BINARIES = ("prometheus-alertmanager", "alertmanager")


class WebhookSink:
    """Alertmanager's webhook notifications (version 4 payloads), as received by a Recorder."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.url = f"{self.recorder.url}/alertmanager-hook"

    def notifications(self) -> list[dict[str, Any]]:
        return [n for n in self.recorder.json_bodies() if isinstance(n, dict)]

    def alerts(self, alertname: Optional[str] = None) -> list[dict[str, Any]]:
        """Every alert of every notification, in arrival order."""
        return [
            alert
            for notification in self.notifications()
            for alert in notification.get("alerts", [])
            if alertname is None or alert["labels"].get("alertname") == alertname
        ]

    def statuses(self, alertname: str, **labels: str) -> set[str]:
        return {
            alert["status"]
            for alert in self.alerts(alertname)
            if all(alert["labels"].get(k) == v for k, v in labels.items())
        }

    def wait(self, condition: Callable[[WebhookSink], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return True
            time.sleep(0.2)
        return condition(self)

    def stop(self) -> None:
        self.recorder.stop()


@contextmanager
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.stop()


def alertmanager_config(
    webhook_url: str,
    *,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "hook",
            "group_by": ["..."],  # every alert a group of its own
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
        ],
    }


class Alertmanager:
    """The first start() listens on port 0 (the kernel's choice, read back from the socket
    table); a restart takes the same port again, so the agent's receiver URL stays right."""

    def __init__(self, binary: str, directory: Path, config_path: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.config_path = config_path
        self.port = 0
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.starts = 0
        self._final_log: Optional[str] = None

    @property
    def log_path(self) -> Path:
        return self.directory / "alertmanager.log"

    def log_text(self) -> str:
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self, timeout: float = 30.0) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",  # 0 at the first start
                    "--cluster.listen-address=",
                    "--log.level=info",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.directory,
            )
        if self.port == 0:
            try:
                self.port = listening_port(self.process, "alertmanager", timeout)
            except AssertionError as error:
                self.stop()
                raise AssertionError(f"{error}:\n{self.log_text()[-3000:]}") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(
            f"alertmanager did not start on {self.url}:\n{self.log_text()[-3000:]}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v2/{path}", timeout=10) as response:
            return json.load(response)

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: the alerts Alertmanager holds that have not ended (resolved
        alerts are not listed)."""
        alerts: list[dict[str, Any]] = self.api("alerts")
        return alerts

    def wait_alerts(
        self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        """Poll the alerts until condition holds; the last list either way (check it)."""
        deadline = time.monotonic() + timeout
        alerts: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                alerts = self.alerts()
            except (OSError, urllib.error.URLError, ValueError):
                alerts = []
            if condition(alerts):
                return alerts
            time.sleep(0.2)
        return alerts


@contextmanager
def running_alertmanager(webhook_url: str, **route: str) -> Iterator[Alertmanager]:
    binary = require_binary(BINARIES, "prometheus-alertmanager")
    with tempfile.TemporaryDirectory(prefix="alertmanager-test-") as temporary:
        directory = Path(temporary)
        config_path = directory / "alertmanager.yml"
        config_path.write_text(
            yaml.safe_dump(alertmanager_config(webhook_url, **route)), encoding="utf-8"
        )
        check = subprocess.run(
            [
                require_binary(("amtool",), "prometheus-alertmanager"),
                "check-config",
                str(config_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, f"amtool check-config:\n{check.stdout}{check.stderr}"
        manager = Alertmanager(binary, directory, config_path)
        manager.start()
        try:
            yield manager
        finally:
            manager.stop()
            manager._final_log = manager.log_text()


def by_name(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        grouped.setdefault(alert["labels"].get("alertname", ""), []).append(alert)
    return grouped
