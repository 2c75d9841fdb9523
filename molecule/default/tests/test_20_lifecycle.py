"""Re-running the role: check mode changes nothing, a config change reloads (same PID), a
wheelhouse built from the same source by another controller (another checkout, another
directory) changes nothing, a version change restarts (upgrade and downgrade), and a broken config
fails the play with the agent's own message naming the variable, without touching the running
agent or its config. Each step runs the play once against every host."""

from __future__ import annotations

import json
import time

import pytest
from conftest import (
    BIN,
    CONFIG,
    UPGRADE_VERSION,
    build_upgrade_wheel,
    clone_source,
    hosts,
    main_pid,
    metric,
    recap,
    run_playbook,
)

ROTATED = "http://127.0.0.1:9/rotated-s3cr3t-token"
# The config change of the reload step (kept in later steps): a log level and a rotated secret.
DEBUG = (
    "-e",
    json.dumps(
        {
            "aiops_agent_log_level": "debug",
            "aiops_agent_receiver_secrets": {"ops-webhook-url": ROTATED},
        }
    ),
)


def snapshot():
    state = {}
    for name, host in hosts().items():
        reload_ts = metric(host, "aiops_agent_config_last_reload_success_timestamp_seconds")
        state[name] = {
            "pid": main_pid(host),
            "config_sha": host.file(CONFIG).sha256sum,
            "version": host.check_output(f"{BIN} --version").split()[-1],
            "reload_ts": reload_ts[0][1] if reload_ts else None,
        }
    return state


# The steps fixture runs five whole plays on two hosts (one builds an upgrade wheel): on a shared
# 2-core machine that takes longer than the suite's default 300 s per test.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def steps():
    """Run every step once, in order, recording each host's state around it."""
    results = {}
    before = snapshot()

    check = run_playbook(check=True)  # --check --diff
    results["check"] = (check, before, snapshot())

    time.sleep(1.1)  # reload timestamps have a resolution of the clock; make a change visible
    reload_run = run_playbook(*DEBUG)
    results["reload"] = (reload_run, results["check"][2], snapshot())

    # Another controller: its own checkout (other file times) and its own wheelhouse.
    source = clone_source()
    second = run_playbook(
        *DEBUG,
        "-e", f"aiops_agent_source_dir={source}",
        "-e", f"aiops_agent_wheelhouse_dir={source.parent / 'wheelhouse'}",
    )  # fmt: skip
    results["second_controller"] = (second, results["reload"][2], snapshot())

    build_upgrade_wheel()
    upgrade = run_playbook(*DEBUG, "-e", f"aiops_agent_version={UPGRADE_VERSION}")
    results["upgrade"] = (upgrade, results["reload"][2], snapshot())

    downgrade = run_playbook(*DEBUG)
    results["downgrade"] = (downgrade, results["upgrade"][2], snapshot())

    broken = run_playbook(*DEBUG, "-e", "aiops_agent_interval='5 minutes'")
    results["broken"] = (broken, results["downgrade"][2], snapshot())
    return results


def test_check_mode_reports_no_change(steps):
    result, before, after = steps["check"]
    assert result.returncode == 0, result.stdout[-3000:]
    counters = recap(result.stdout)
    assert counters and all(c["changed"] == 0 for c in counters.values()), counters
    assert before == after


def test_config_change_reloads_with_same_pid(steps, host):
    result, before, after = steps["reload"]
    name = host.backend.name
    assert result.returncode == 0, result.stdout[-3000:]
    assert before[name]["config_sha"] != after[name]["config_sha"], "config unchanged"
    assert after[name]["pid"] == before[name]["pid"], "the agent was restarted, not reloaded"
    assert after[name]["reload_ts"] > (before[name]["reload_ts"] or 0), "no reload seen"
    assert "level: debug" in host.file(CONFIG).content_string
    secret = host.file("/etc/aiops-agent/secrets/ops-webhook-url")
    assert (secret.user, secret.group, secret.mode) == ("root", "aiops-agent", 0o640)
    assert secret.content_string == ROTATED
    # no_log and diff: false keep the secret out of the play's output, even with --diff.
    assert "rotated-s3cr3t" not in result.stdout
    assert "rotated-s3cr3t" not in host.file(CONFIG).content_string


def test_a_second_controllers_wheelhouse_changes_nothing(steps, host):
    result, before, after = steps["second_controller"]
    name = host.backend.name
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout)[name]["changed"] == 0, result.stdout[-3000:]
    assert after[name] == before[name], "the agent was reinstalled, restarted or reloaded"


def test_upgrade_restarts_into_the_new_version(steps, host):
    result, before, after = steps["upgrade"]
    name = host.backend.name
    assert result.returncode == 0, result.stdout[-3000:]
    assert after[name]["version"] == UPGRADE_VERSION
    assert after[name]["pid"] != before[name]["pid"], "a code change must restart"
    assert after[name]["config_sha"] == before[name]["config_sha"]


def test_downgrade_restarts_into_the_old_version(steps, host):
    result, before, after = steps["downgrade"]
    name = host.backend.name
    assert result.returncode == 0, result.stdout[-3000:]
    assert after[name]["version"] == "0.1.0"
    assert after[name]["pid"] != before[name]["pid"]
    assert metric(host, "aiops_agent_build_info", 'version="0.1.0"')
    fact = json.loads(host.file("/etc/ansible/facts.d/aiops_agent.fact").content_string)
    assert fact["version"] == "0.1.0"


def test_broken_config_fails_and_changes_nothing(steps, host):
    result, before, after = steps["broken"]
    name = host.backend.name
    assert result.returncode != 0, "a config check-config rejects must fail the play"
    # The agent's own message, with the variable behind the key (ansible-core 2.19 prints
    # task errors on stderr).
    explained = "agent.interval (aiops_agent_interval): '5 minutes' is not a duration"
    assert explained in result.stdout + result.stderr, result.stderr[-3000:]
    assert recap(result.stdout)[name]["failed"] == 1
    assert after[name]["config_sha"] == before[name]["config_sha"], "the old config was replaced"
    assert after[name]["pid"] == before[name]["pid"], "the running agent was touched"
    assert host.service("aiops-agent").is_running
