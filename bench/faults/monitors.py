"""What watches the host: a webhook recorder on this machine (the agents' and Alertmanager's
notifications, stamped on arrival), and Debian's Prometheus and Alertmanager on loopback with the
repo's node rule set, every duration divided by the time scale."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules" / "node_host_alerts.yml"
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")


def seconds(text: str) -> float:
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def scaled(text: str, scale: float) -> str:
    """A Prometheus duration divided by `scale`, in whole milliseconds."""
    return f"{max(1, round(seconds(text) * 1000 / scale))}ms"


def scale_rules(source: Path, scale: float) -> dict[str, Any]:
    """The rule file with every `for` and every range selector `[...]` divided by `scale`."""
    document: dict[str, Any] = yaml.safe_load(source.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = scaled(rule["for"], scale)
            rule["expr"] = re.sub(
                r"\[(\d+[smhd])\]", lambda m: f"[{scaled(m.group(1), scale)}]", rule["expr"]
            )
    return document


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


class Recorder:
    """Records every POST as (arrival time, path, JSON body), in memory and in a JSON-lines file."""

    def __init__(self, address: str, path: Path) -> None:
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.file = path.open("a", encoding="utf-8")
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    document = json.loads(body)
                except ValueError:
                    document = {"unparsed": body.decode("utf-8", "replace")}
                recorder.add({"t": arrived, "path": self.path, "body": document})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.records.append(record)
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.records)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.file.close()


def _get(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
        return json.load(response) if "/api/" in url else response.read()


def _wait(check: Any, what: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            if check():
                return
        time.sleep(0.5)
    raise RuntimeError(f"{what} not reached within {timeout:.0f} s (log: {log})")


class PrometheusStack:
    """Alertmanager and Prometheus (Debian's packages) scraping node_exporter in the host."""

    def __init__(self, workdir: Path, target: str, webhook: str, scale: float) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.am_port, self.prom_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.prom_port}"
        # Alertmanager's default timers (group_wait 30s, group_interval 5m, repeat 4h) scaled.
        alertmanager = {
            "global": {"resolve_timeout": scaled("5m", scale)},
            "route": {
                "receiver": "bench",
                "group_by": ["alertname"],
                "group_wait": scaled("30s", scale),
                "group_interval": scaled("5m", scale),
                "repeat_interval": scaled("4h", scale),
            },
            "receivers": [
                {"name": "bench", "webhook_configs": [{"url": webhook, "send_resolved": True}]}
            ],
        }
        rules = workdir / "node_host_alerts.scaled.yml"
        rules.write_text(yaml.safe_dump(scale_rules(RULES, scale), sort_keys=False))
        interval = scaled("15s", scale)
        prometheus = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [str(rules)],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]
            },
            "scrape_configs": [{"job_name": "node", "static_configs": [{"targets": [target]}]}],
        }
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager, sort_keys=False))
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus, sort_keys=False))

    def start(self) -> None:
        work = self.workdir
        self._spawn(
            "alertmanager",
            ["prometheus-alertmanager", f"--config.file={work / 'alertmanager.yml'}",
             f"--storage.path={work / 'am-data'}", f"--web.listen-address=127.0.0.1:{self.am_port}",
             "--cluster.listen-address=", "--log.level=warn"],
        )  # fmt: skip
        self._spawn(
            "prometheus",
            ["prometheus", f"--config.file={work / 'prometheus.yml'}",
             f"--storage.tsdb.path={work / 'prom-data'}",
             f"--web.listen-address=127.0.0.1:{self.prom_port}", "--log.level=warn"],
        )  # fmt: skip
        am = f"http://127.0.0.1:{self.am_port}/-/ready"
        _wait(lambda: _get(am) is not None, "Alertmanager ready", 60, work / "alertmanager.log")
        _wait(
            lambda: (
                _get(f"{self.url}/api/v1/targets")["data"]["activeTargets"][0]["health"] == "up"
            ),
            "node_exporter scraped",
            90,
            work / "prometheus.log",
        )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        log.close()

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        params = {"query": expr, "time": f"{at:.3f}"}
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode(params)
        result: list[dict[str, Any]] = _get(url)["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = _get(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return alerts

    def peak(self, expr: str, start: float, end: float) -> float | None:
        """Highest value of `expr` (one series) between start and end, at 1 s resolution."""
        query = f"max(max_over_time(({expr})[{max(1, round(end - start))}s:1s]))"
        result = self.query(query, end)
        return float(result[0]["value"][1]) if result else None

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _epoch(text: str) -> float:
    """RFC 3339 as the agent and Prometheus write it (nanoseconds and 'Z' included)."""
    head, _, rest = text.rstrip("Z").partition(".")
    whole = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc)
    fraction = float("0." + rest.split("+")[0]) if rest else 0.0
    return whole.timestamp() + fraction


class OnsetPoller:
    """Every `period` seconds, the alerts each system holds (pending or firing), their activeAt
    (when the condition began, which the notifications do not carry), when they were last seen
    and whether they got to firing. Lets the report split a detection into the time the fault
    took to cross a level and the time after that, and tell how near the quiet baseline came to
    a false notification."""

    def __init__(self, fetch: Any, period: float = 2.0) -> None:
        self.fetch = fetch  # callable: {system: the alerts of its /api/v1/alerts}
        self.period = period
        self.seen: dict[str, dict[str, dict[str, Any]]] = {}
        self.stopping = threading.Event()
        self.errors = 0
        self.last_error = ""
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopping.wait(self.period):
            try:
                found = self.fetch()
            except Exception as error:  # a missed poll only loses precision
                self.errors += 1
                self.last_error = repr(error)[:300]
                continue
            now = time.time()
            for system, alerts in found.items():
                for alert in alerts:
                    labels = alert["labels"]
                    key = json.dumps(labels, sort_keys=True) + alert["activeAt"]
                    entry = self.seen.setdefault(system, {}).setdefault(
                        key,
                        {"labels": labels, "active_at": _epoch(alert["activeAt"]), "firing": False},
                    )
                    # How long a condition held, and whether it got past `for`: an alert that
                    # stayed pending 15 s of a 20 s `for` was a near miss, not a quiet moment.
                    entry["last_seen"] = now
                    entry["firing"] = entry["firing"] or alert.get("state") == "firing"

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(30)

    def onsets(self) -> dict[str, list[dict[str, Any]]]:
        return {system: list(alerts.values()) for system, alerts in self.seen.items()}
