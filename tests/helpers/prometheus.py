"""Start a real Prometheus (Debian's prometheus package) on loopback for a test, and query it.

    with running_prometheus([{"job_name": "agent", "static_configs": [...]}]) as prom:
        prom.wait_for("up == 1")
        prom.query('node_load1')

Storage, config and log live in a temporary directory. Prometheus listens on port 0 and the port
the kernel chose is read from the socket table (Prometheus logs the address it was given, :0).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from tests.helpers.ports import listening_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
Vector = list[
    dict[str, Any]
]  # the "result" of an instant query: [{"metric": {...}, "value": [t, "v"]}]


class Prometheus:
    def __init__(self, process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
        self.process = process
        self.port = port
        self.directory = directory
        self.url = f"http://127.0.0.1:{port}"
        self._final_log: Optional[str] = None

    def log_text(self) -> str:
        if self._final_log is not None:
            return self._final_log
        return (self.directory / "prometheus.log").read_text(encoding="utf-8", errors="replace")

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                document = json.load(response)
        except urllib.error.HTTPError as error:
            document = json.load(error)
        if document.get("status") != "success":
            raise AssertionError(f"{path} {params}: {document}")
        return document["data"]

    def query(self, expr: str) -> Vector:
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise AssertionError(f"{expr}: expected a vector, got {data['resultType']}")
        result: Vector = data["result"]
        return result

    def values(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """{sorted label pairs: value} of an instant query."""
        return {
            tuple(sorted(item["metric"].items())): float(item["value"][1])
            for item in self.query(expr)
        }

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return active

    def wait_for(
        self,
        expr: str,
        condition: Optional[Callable[[Vector], bool]] = None,
        timeout: float = 60.0,
    ) -> Vector:
        """Poll `expr` until `condition` holds (default: a non-empty result); on timeout fail with
        the targets' last scrape errors, which is what usually explains it."""
        check = condition or bool
        deadline = time.monotonic() + timeout
        result: Vector = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if check(result):
                return result
            time.sleep(0.5)
        errors = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in self.targets()]
        raise AssertionError(f"{expr}: not met within {timeout}s (last {result}); targets {errors}")


@contextmanager
def running_prometheus(
    scrape_configs: list[dict[str, Any]],
    *,
    scrape_interval: str = "2s",
    extra_config: Optional[dict[str, Any]] = None,
    start_timeout: float = 60.0,
) -> Iterator[Prometheus]:
    """Prometheus scraping `scrape_configs` every `scrape_interval`; extra_config adds top-level
    sections (rule_files, alerting). The config is checked with promtool first, so a mistake in a
    test's config fails with promtool's message instead of a start-up timeout."""
    with tempfile.TemporaryDirectory(prefix="prometheus-test-") as temporary:
        directory = Path(temporary)
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": scrape_configs,
            **(extra_config or {}),
        }
        config_path = directory / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        check = subprocess.run(
            ["promtool", "check", "config", str(config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, f"promtool check config:\n{check.stdout}{check.stderr}"
        prometheus = _start(config_path, directory)
        try:
            assert _wait_ready(prometheus, start_timeout), (
                "prometheus did not start:\n" + prometheus.log_text()[-4000:]
            )
            yield prometheus
        finally:
            prometheus.process.terminate()
            try:
                prometheus.process.wait(20)
            except subprocess.TimeoutExpired:
                prometheus.process.kill()
                prometheus.process.wait(10)
            prometheus._final_log = prometheus.log_text()


def _start(config_path: Path, directory: Path) -> Prometheus:
    data = directory / "data"
    with open(directory / "prometheus.log", "ab") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={data}",
                "--web.listen-address=127.0.0.1:0",
                "--storage.tsdb.retention.time=1h",
                "--log.level=info",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=directory,
        )
    try:
        port = listening_port(process, "prometheus", timeout=60)
    except AssertionError as error:
        process.kill()
        process.wait(10)
        log_text = (directory / "prometheus.log").read_text(errors="replace")[-4000:]
        raise AssertionError(f"{error}:\n{log_text}") from None
    return Prometheus(process, port, directory)


def _wait_ready(prometheus: Prometheus, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prometheus.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(prometheus.url + "/-/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
