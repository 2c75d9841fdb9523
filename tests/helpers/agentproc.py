"""Start a real `aiops-agent run` subprocess for an integration test, and stop it.

    with running_agent({"agent": {"interval": "1s"}}) as agent:
        text = agent.metrics()

The agent listens on 127.0.0.1:0 unless the config names http.listen; the port the kernel chose is
read from the "agent started" JSON log line, so there is no find-a-free-port race. Its state
directory and config file live in a fresh temporary directory. Readiness is /readyz answering 200
(the first collection has finished). stderr goes to a file (never a pipe a test might forget to
drain); read it with stderr_text().

TLS and basic auth: when http.web_config_file names a web config with tls_server_config the URL
scheme is https (certificates are not verified: tests use self-signed ones); pass auth=(user,
password) for basic auth. Both are used by the readiness probe and by get()/metrics().
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import yaml

from tests import promtext

DEFAULT_READY_TIMEOUT = 30.0


class AgentProcess:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        directory: Path,
        config_path: Path,
        stderr_path: Path,
        scheme: str,
        auth: Optional[tuple[str, str]],
    ) -> None:
        self.process = process
        self.directory = directory  # the temporary directory: config, state/, stderr.log
        self.config_path = config_path
        self.stderr_path = stderr_path
        self.scheme = scheme
        self.auth = auth
        self.port = 0
        self.host = "127.0.0.1"
        self.killed = False  # by kill(): then running_agent accepts the SIGKILL exit status
        self._final_stderr: Optional[str] = None  # kept when the temporary directory goes

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def stderr_text(self) -> str:
        if self._final_stderr is not None:
            return self._final_stderr
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (lines that are not JSON are skipped)."""
        records = []
        for line in self.stderr_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL (a crash, an OOM kill), and wait for the process to be gone."""
        self.killed = True
        self.process.kill()
        self.process.wait(15)

    def alive(self) -> bool:
        return self.process.poll() is None

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the config file (e.g. before send_signal(SIGHUP)); written as given, without the
        defaults running_agent adds."""
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def get(
        self, path: str, timeout: float = 10.0, headers: Optional[dict[str, str]] = None
    ) -> tuple[int, bytes]:
        """(status, body) of a GET; HTTP errors are returned, not raised."""
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        if self.auth is not None:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = _unverified_context() if self.scheme == "https" else None
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), bytes(error.read())

    def metrics(self) -> str:
        """The page, checked to parse with no series or family twice (promtext.parse)."""
        status, body = self.get("/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}: {body[:200]!r}")
        text = body.decode("utf-8")
        promtext.parse(text)
        return text

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _uses_tls(config: dict[str, Any]) -> bool:
    web_config = (config.get("http") or {}).get("web_config_file")
    if not web_config or not Path(web_config).is_file():
        return False
    document = yaml.safe_load(Path(web_config).read_text(encoding="utf-8")) or {}
    return isinstance(document, dict) and bool(document.get("tls_server_config"))


def _with_defaults(config: dict[str, Any], directory: Path) -> dict[str, Any]:
    merged = json.loads(json.dumps(config))  # a deep copy; configs here are plain data
    agent = merged.setdefault("agent", {})
    agent.setdefault("interval", "1s")
    agent.setdefault("state_dir", str(directory / "state"))
    merged.setdefault("http", {}).setdefault("listen", "127.0.0.1:0")
    return dict(merged)


@contextmanager
def running_agent(
    config: dict[str, Any],
    env: Optional[dict[str, str]] = None,
    *,
    auth: Optional[tuple[str, str]] = None,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    wait_ready: bool = True,
    command_prefix: Sequence[str] = (),
    agent_command: Sequence[str] = (sys.executable, "-m", "aiops_agent"),
) -> Iterator[AgentProcess]:
    """Run the agent with `config` (defaults added: interval 1s, state_dir and listen
    127.0.0.1:0) and `env` on top of this process' environment, less any AIOPS__* variables.
    Yields once /readyz answers 200 (or once the port is known, with wait_ready=False); stops the
    agent on exit and fails the test if it does not stop cleanly. command_prefix runs the agent
    under another command, e.g. ["nsenter", "--mount=/proc/PID/ns/mnt", "--"]; agent_command
    replaces this interpreter's `python -m aiops_agent`, e.g. with another venv's aiops-agent."""
    with tempfile.TemporaryDirectory(prefix="aiops-agent-test-") as temporary:
        directory = Path(temporary)
        full = _with_defaults(config, directory)
        config_path = directory / "config.yaml"
        config_path.write_text(yaml.safe_dump(full), encoding="utf-8")
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("AIOPS__")}
        child_env.update(env or {})
        child_env["PYTHONUNBUFFERED"] = "1"
        stderr_path = directory / "stderr.log"
        with open(stderr_path, "wb") as stderr:
            process = subprocess.Popen(
                [
                    *command_prefix,
                    *agent_command,
                    "run",
                    "--config",
                    str(config_path),
                    "--log-format",
                    "json",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=child_env,
            )
        scheme = "https" if _uses_tls(full) else "http"
        agent = AgentProcess(process, directory, config_path, stderr_path, scheme, auth)
        try:
            wait_started(agent, ready_timeout)
            if wait_ready:
                wait_until_ready(agent, ready_timeout)
            yield agent
        finally:
            code = agent.stop()
            agent._final_stderr = agent.stderr_text()
        if code not in (0, -signal.SIGTERM) and not (agent.killed and code == -signal.SIGKILL):
            tail = agent.stderr_text()[-4000:]
            raise AssertionError(f"agent exited with {code}; stderr:\n{tail}")


def wait_started(agent: AgentProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in agent.log_records():
            if record.get("msg") == "agent started" and "port" in record:
                agent.port = int(record["port"])
                listen = str(record.get("listen", ""))
                host = listen.rpartition(":")[0].strip("[]")
                agent.host = "127.0.0.1" if host in ("", "0.0.0.0") else host
                agent.host = "::1" if host == "::" else agent.host
                return
        if not agent.alive():
            raise AssertionError(
                f"agent exited with {agent.process.returncode} before listening; stderr:\n"
                + agent.stderr_text()[-4000:]
            )
        time.sleep(0.05)
    raise AssertionError(f"agent did not start within {timeout}s; stderr:\n{agent.stderr_text()}")


def wait_until_ready(agent: AgentProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = agent.get("/readyz", timeout=2.0)
            if status == 200:
                return
            last = (status, body[:200])
        except OSError as error:
            last = error
        if not agent.alive():
            break
        time.sleep(0.1)
    tail = agent.stderr_text()[-4000:]
    raise AssertionError(f"agent not ready within {timeout}s (last: {last!r}); stderr:\n{tail}")
