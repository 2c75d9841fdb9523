"""The process-limit rules end to end through `aiops-agent run`: a real process that leaks fds
under its own low RLIMIT_NOFILE, and a throwaway user's processes under a low RLIMIT_NPROC, are
seen by the agent's worst-ratio gauges and fire HostProcessFdLimit and HostUserProcessLimit, whose
notifications name the process (or the user's processes) to a webhook on loopback. The host-wide
fd and process counts stay far from any host limit meanwhile: only a per-process view sees these."""

from __future__ import annotations

import os
import pwd
import resource
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Callable

import psutil
import pytest

from tests import promtext
from tests.helpers.agentproc import running_agent
from tests.helpers.receivers import Recorder, recording
from tests.helpers.wait import wait_for

pytestmark = pytest.mark.integration

FD_LIMIT = 64
# Opens /dev/null until its own limit refuses (EMFILE), says how many it holds, then holds them.
FD_LEAK = (
    "import os, resource, sys, time\n"
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))\n"
    "held = []\n"
    "try:\n"
    "    while True:\n"
    "        held.append(os.open('/dev/null', os.O_RDONLY))\n"
    "except OSError:\n"
    "    print('full', flush=True)\n"
    "time.sleep(600)\n"
)
NPROC_LIMIT = 20
# With their shell: 20 tasks of 20, at the limit (critical). The alert names the processes of the
# user nearest its limit on the machine: another user at its own limit (a fork-bomb benchmark
# running beside the tests) could take that place.
SLEEPERS = 19


def config(receiver: Recorder, rule: str) -> dict[str, Any]:
    return {
        # A pass every collection, and `for` a few of them: the test waits seconds, not minutes.
        "processes": {"interval": "1s", "top": 50},
        "collectors": {"filesystem": {"enabled": False}},
        "detection": {"default_rules": {rule: {"for": "2s"}}},
        "receivers": {"hook": {"webhook": {"url": f"{receiver.url}/hook"}}},
        "routes": [{"receiver": "hook", "matchers": [f'alertname="{rule}"']}],
    }


def firing(receiver: Recorder, rule: str, severity: str) -> Callable[[], dict[str, Any] | None]:
    def find() -> dict[str, Any] | None:
        for document in receiver.json_bodies():
            for alert in document.get("alerts", []):
                labels = alert["labels"]
                kind = (labels.get("alertname"), labels.get("severity"), alert["status"])
                if kind == (rule, severity, "firing"):
                    return dict(alert)
        return None

    return find


def gauge(metrics: str, name: str) -> float:
    value = promtext.value(metrics, name)
    assert value is not None, f"{name} is not on /metrics"
    return value


@pytest.fixture
def fd_leak() -> Iterator[subprocess.Popen[bytes]]:
    leak = subprocess.Popen(
        [sys.executable, "-c", FD_LEAK, f"aiops-fdleak-{secrets.token_hex(4)}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        assert leak.stdout is not None
        assert leak.stdout.readline() == b"full\n"
        yield leak
    finally:
        leak.kill()
        leak.wait()


def test_a_process_at_its_own_fd_limit_fires_and_is_named(
    fd_leak: subprocess.Popen[bytes],
) -> None:
    rule = "HostProcessFdLimit"
    with recording() as receiver, running_agent(config(receiver, rule)) as agent:
        alert = wait_for(firing(receiver, rule, "critical"), f"a critical {rule} notification")
        assert gauge(agent.metrics(), "aiops_agent_process_fd_limit_used_ratio") >= 0.98
    assert alert["context"] == "fd_limit"
    named = {p["pid"]: p for p in alert["processes"]}[fd_leak.pid]
    assert (named["open_fds"], named["limit"]) == (FD_LIMIT, FD_LIMIT)
    lines = alert["annotations"]["top_processes"]
    assert f"pid {fd_leak.pid} python" in lines
    assert f"{FD_LIMIT} open fds of its limit {FD_LIMIT}" in lines


def unused_uid() -> int:
    """A uid with no passwd entry and no process: its task count is the test's alone."""
    in_use = {p.info["uids"].real for p in psutil.process_iter(["uids"]) if p.info["uids"]}
    for uid in range(61000 + secrets.randbelow(2000), 65000):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if uid not in in_use:
                return uid
    raise AssertionError("no unused uid")


@pytest.fixture
def limited_user() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    if os.geteuid() != 0:
        pytest.skip("running processes as another uid needs root (CI runs as root)")
    uid = unused_uid()

    def become_user() -> None:
        os.setgroups([])
        os.setgid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))
        os.setuid(uid)

    shell = subprocess.Popen(
        ["/bin/sh", "-c", f"for i in $(seq {SLEEPERS}); do sleep 600 & done; wait"],
        stdin=subprocess.DEVNULL,
        cwd="/",
        preexec_fn=become_user,  # noqa: PLW1509 - setuid must run between fork and exec
        start_new_session=True,
    )
    try:

        def started() -> bool:
            tasks = [p for p in psutil.process_iter(["uids"]) if p.info["uids"].real == uid]
            return len(tasks) == SLEEPERS + 1

        wait_for(started, f"{SLEEPERS} sleeping processes of uid {uid}")
        yield uid, shell
    finally:
        os.killpg(shell.pid, signal.SIGKILL)  # the shell and its sleepers: one session
        shell.wait()


@pytest.mark.needs_root
def test_a_user_near_its_process_limit_fires_and_its_processes_are_named(
    limited_user: tuple[int, subprocess.Popen[bytes]],
) -> None:
    uid, shell = limited_user
    rule = "HostUserProcessLimit"
    with recording() as receiver, running_agent(config(receiver, rule)) as agent:
        alert = wait_for(firing(receiver, rule, "critical"), f"a critical {rule} notification")
        ratio = gauge(agent.metrics(), "aiops_agent_user_process_limit_used_ratio")
    assert ratio >= (SLEEPERS + 1) / NPROC_LIMIT
    assert alert["context"] == "process_limit"
    first = alert["processes"][0]  # the shell: it started every other task of the user
    assert (first["pid"], first["user"], first["tasks"], first["limit"]) == (
        shell.pid, str(uid), SLEEPERS + 1, NPROC_LIMIT)  # fmt: skip
    lines = alert["annotations"]["top_processes"]
    assert f"pid {shell.pid} sh ({uid})" in lines
    assert f"runs {SLEEPERS + 1} tasks of its limit {NPROC_LIMIT}" in lines


def top(sort: str) -> list[list[str]]:
    """`aiops-agent top --once --sort SORT` on this host, split into words by line."""
    result = subprocess.run(
        [sys.executable, "-m", "aiops_agent", "top", "--once", "--sort", sort, "--delay", "0.2",
         "-n", "50"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return [line.split() for line in result.stdout.splitlines()]


def test_top_sorted_by_fd_limit_shows_a_process_at_its_own_limit(
    fd_leak: subprocess.Popen[bytes],
) -> None:
    lines = top("fd_limit")
    assert lines[1][-4:] == ["FORKS", "LIMIT", "USE", "COMMAND"]
    leak = next(words for words in lines[2:] if words[0] == str(fd_leak.pid))
    assert leak[8:12] == [str(FD_LIMIT), "0", str(FD_LIMIT), "100%"]  # FDS FORKS LIMIT USE


@pytest.mark.needs_root
def test_top_sorted_by_process_limit_shows_the_user_at_its_limit(
    limited_user: tuple[int, subprocess.Popen[bytes]],
) -> None:
    uid, shell = limited_user
    lines = top("process_limit")
    tasks = SLEEPERS + 1
    assert " ".join(lines[0]).endswith(f"(user {uid}: {tasks} tasks of its limit {NPROC_LIMIT})")
    assert lines[1][-5:] == ["FORKS", "TASKS", "LIMIT", "USE", "COMMAND"]
    assert lines[2][:2] == [str(shell.pid), str(uid)]  # the shell started every other task
    assert lines[2][10:13] == [str(tasks), str(NPROC_LIMIT), "100%"]  # TASKS LIMIT USE
