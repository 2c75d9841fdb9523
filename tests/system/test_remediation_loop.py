"""The remediation loop end to end, with real parts only: two systemd containers run the agent,
deployed by the collection's role, with a small file system (a 64 MiB tmpfs at /var/log) and
a webhook receiver signed for Event-Driven Ansible; `ansible-rulebook` runs on this machine with
the collection's rulebook, listening on the containers' network bridge (not beyond this machine).

- A file system filled past its rule is cleaned on that host only (old rotated logs removed; the
  new file, the symlink and the other host untouched), the alert resolves, the action is in the
  ledger and posted back.
- A killed service is restarted.
- A flapping memory hog is restarted twice, then the rate limit refuses.
- Dry run on a host reports what it would do and changes nothing.
- The kill switch refuses every action.
- An alert for a host outside the inventory does nothing and the rulebook says so.
- Forged and unsigned webhooks are refused by ansible-rulebook (401, 400) and do nothing.

Detection-to-remediation times are printed (run with -s to see them), never asserted."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
import requests
import yaml

from tests.helpers.eda import Rulebook, eda_environment, eda_venv, sign
from tests.helpers.podmanhosts import ROOT, PodmanHosts
from tests.helpers.receivers import Recorder

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_podman, pytest.mark.timeout(1800)]

BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("AIOPS_CACHE_DIR", Path.home() / ".cache" / "aiops-agent"))
PREFIX = f"aiops-eda{os.getpid()}"
WEB1, WEB2 = f"{PREFIX}-web1", f"{PREFIX}-web2"
OLD_FILES = ["/var/log/app/old.log.1", "/var/log/app/old.log.2", "/var/log/app/old.log.3"]
KEPT_FILES = ["/var/log/app/new.log.1", "/var/log/app/link.log.9"]
DEADLINE = 240.0  # generous: a playbook run over `podman exec` on a busy 2-core machine
TIMINGS: list[str] = []

PREPARE = """
set -e
mkdir -p /var/log/app
for i in 1 2 3; do head -c 8M /dev/zero > /var/log/app/old.log.$i; done
touch -d '10 days ago' /var/log/app/old.log.*
head -c 1M /dev/zero > /var/log/app/new.log.1
ln -sf /etc/passwd /var/log/app/link.log.9
touch -h -d '10 days ago' /var/log/app/link.log.9
cp /bin/sleep /usr/local/bin/aiops-demo
printf '[Service]\\nExecStart=/usr/local/bin/aiops-demo infinity\\n' \
    > /etc/systemd/system/aiops-demo.service
# Holds 64 MiB 3 s after each start: restarted, it drops below its rule, then hogs again.
printf '%s\\n' '[Service]' \
    'ExecStart=/usr/bin/python3 -c "import time; time.sleep(3); hog = b\\"x\\" * (64 << 20); time.sleep(10 ** 6)" aiops-hog' \
    > /etc/systemd/system/aiops-hog.service
systemctl daemon-reload
systemctl start aiops-demo
"""


def agent_settings(url: str, secret: str) -> dict[str, Any]:
    return {
        "aiops_agent_interval": "1s",
        "aiops_agent_receiver_secrets": {"eda-hmac": secret},
        "aiops_agent_config_extra": {
            "collectors": {
                "process_groups": {
                    "process_names": [
                        {"name": "demo", "comm": ["aiops-demo"]},
                        {"name": "hog", "cmdline": [" aiops-hog$"]},
                    ]
                }
            },
            "detection": {
                "rules": [
                    {
                        "name": "LogsFull",
                        "metric": "aiops_agent_filesystem_used_ratio",
                        "matchers": ['mountpoint="/var/log"'],
                        "critical": 0.8,
                    },
                    {
                        "name": "DemoDown",
                        "metric": "namedprocess_namegroup_num_procs",
                        "matchers": ['groupname="demo"'],
                        "direction": "below",
                        "critical": 1,
                    },
                    {
                        "name": "HogMemory",
                        "metric": "namedprocess_namegroup_memory_bytes",
                        "matchers": ['groupname="hog"', 'memtype="resident"'],
                        "critical": 48_000_000,
                    },
                ]
            },
            "receivers": {
                "eda": {
                    "webhook": {
                        "url": url,
                        "hmac_secret": "file:/etc/aiops-agent/secrets/eda-hmac",
                        "signature": {"header": "X-Hub-Signature-256", "include_timestamp": False},
                    }
                }
            },
            "routes": [{"receiver": "eda"}],
            "outbox": {"backoff_base": "1s", "backoff_max": "5s"},
        },
    }


def remediation_settings(work: Path, notify_url: str) -> dict[str, Any]:
    return {
        "aiops_remediation_ledger": str(work / "ledger" / "actions.jsonl"),
        "aiops_remediation_kill_switch_file": str(work / "disabled"),
        "aiops_remediation_notify_url": notify_url,
        "aiops_remediation_max_actions": 2,
        "aiops_remediation_window": 3600,
        "aiops_remediation_alerts": {
            "LogsFull": ["journal_vacuum", "clean_files"],
            "DemoDown": ["restart_unit"],
            "HogMemory": ["restart_unit"],
        },
        "aiops_remediation_cleanup": [
            {"path": "/var/log/app", "patterns": ["*.log.[0-9]*"], "age": "1d"}
        ],
        "aiops_remediation_units": {"demo": "aiops-demo.service", "hog": "aiops-hog.service"},
    }


class Loop:
    def __init__(self, work: Path, hosts: PodmanHosts, rulebook: Rulebook, recorder: Recorder,
                 url: str, secret: str) -> None:  # fmt: skip
        self.work = work
        self.hosts = hosts
        self.rulebook = rulebook
        self.recorder = recorder
        self.url = url
        self.secret = secret
        self.inventory = work / "inventory"
        self.ledger_path = work / "ledger" / "actions.jsonl"
        self.kill_switch = work / "disabled"

    def ledger(self, **match: str) -> list[dict[str, Any]]:
        if not self.ledger_path.exists():
            return []
        entries = [json.loads(line) for line in self.ledger_path.read_text().splitlines() if line]
        return [e for e in entries if all(e.get(k) == v for k, v in match.items())]

    def wait(self, what: str, found: Callable[[], Any], timeout: float = DEADLINE) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: not within {timeout:.0f} s\nledger:\n"
                    + "\n".join(json.dumps(e) for e in self.ledger())
                    + f"\nansible-rulebook log:\n{self.rulebook.log_text()[-8000:]}"
                )
            time.sleep(0.5)

    def present(self, host: str, paths: list[str]) -> list[str]:
        script = "; ".join(f"if [ -e {p} ] || [ -L {p} ]; then echo {p}; fi" for p in paths)
        return self.hosts.sh(host, script).split()

    def firing(self, host: str, alertname: str) -> bool:
        answer = self.hosts.sh(host, "curl -s -m 5 http://127.0.0.1:9877/api/v1/alerts")
        alerts = json.loads(answer)["data"]["alerts"]
        return any(
            a["labels"]["alertname"] == alertname and a.get("state", a.get("status")) == "firing"
            for a in alerts
        )

    def post(self, body: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.url, data=body, headers=headers, timeout=10)


def alert_document(host: str, alertname: str, key: str, **labels: str) -> bytes:
    document = {
        "version": "2",
        "idempotency_key": key,
        "receiver": "eda",
        "status": "firing",
        "group": {"key": key[:16], "labels": {"alertname": alertname, "host": host}, "sequence": 1},
        "alerts": [
            {
                "fingerprint": key[:16],
                "status": "firing",
                "labels": {"alertname": alertname, "severity": "critical", "host": host, **labels},
                "annotations": {},
                "starts_at": "2030-01-01T00:00:00.000Z",
                "ends_at": None,
                "value": 1.0,
                "generator": alertname,
                "sequence": 1,
                "context": "",
                "processes": [],
            }
        ],
        "processes": [],
        "agent": {"host": host, "url": f"http://{host}:9877", "version": "0.1.0"},
    }
    return json.dumps(document).encode()


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def timing(case: str, **seconds: Optional[float]) -> None:
    shown = ", ".join(
        f"{name} {value:.1f} s" for name, value in seconds.items() if value is not None
    )
    line = f"remediation timing, {case}: {shown}"
    TIMINGS.append(line)
    print(line)


def run(*command: str, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    assert os.geteuid() == 0, "the remediation loop test needs root (podman, systemd containers)"
    assert shutil.which("podman"), "podman is missing: run scripts/setup.sh"
    assert shutil.which("java"), "java is missing: run scripts/setup.sh (openjdk-17-jre-headless)"
    eda_venv()
    work = tmp_path_factory.mktemp("eda")
    hosts = PodmanHosts(PREFIX)
    recorder = Recorder()
    rulebook: Optional[Rulebook] = None
    try:
        image = hosts.build_image("bookworm")
        hosts.start([WEB1, WEB2], image, "--tmpfs", "/var/log:rw,size=64m")
        for name in (WEB1, WEB2):
            hosts.sh(name, PREPARE)
        address = hosts.host_address()
        with socket.socket() as probe:
            probe.bind((address, 0))
            port = probe.getsockname()[1]
        url = f"http://{address}:{port}/aiops"
        secret = secrets.token_hex(24)

        # The collection, built and installed as a user would.
        collections = work / "collections"
        env = eda_environment(
            ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_HOST_KEY_CHECKING="0"
        )
        run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work),
            str(ROOT), cwd=work, env=env)  # fmt: skip
        (tarball,) = work.glob("aiops-agent-*.tar.gz")
        run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force",
            "-p", str(collections), str(tarball), cwd=work, env=env)  # fmt: skip

        # One inventory for deploying the agents and for the rulebook's playbooks.
        inventory = work / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        (inventory / "host_vars").mkdir()
        fleet = {"all": {"children": {"aiops_agents": {"hosts": {WEB1: None, WEB2: None}}}}}
        (inventory / "hosts.yml").write_text(yaml.safe_dump(fleet))
        settings = {
            "ansible_connection": "containers.podman.podman",
            "ansible_python_interpreter": "/usr/bin/python3",
            "aiops_agent_wheelhouse_dir": str(CACHE / "eda-wheelhouse"),
            **agent_settings(url, secret),
            **remediation_settings(work, f"{recorder.url}/remediation"),
        }
        (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
        started = time.monotonic()
        run(str(BIN / "ansible-playbook"), "-i", str(inventory), "aiops.agent.site",
            "-e", "aiops_fleet_serial=2", cwd=work, env=env)  # fmt: skip
        print(f"agents deployed by aiops.agent.site in {time.monotonic() - started:.0f} s")

        variables = {
            "aiops_eda_host": address,
            "aiops_eda_port": port,
            "aiops_remediation_hosts": [WEB1, WEB2],
            "aiops_remediation_alertnames": ["DemoDown", "HogMemory", "LogsFull"],
        }
        (work / "vars.yml").write_text(yaml.safe_dump(variables))
        arguments = ["--rulebook", "aiops.agent.remediation", "--inventory", str(inventory),
                     "--vars", str(work / "vars.yml"), "--env-vars", "AIOPS_EDA_HMAC_SECRET", "-v"]  # fmt: skip
        rulebook = Rulebook(arguments, work, {**env, "AIOPS_EDA_HMAC_SECRET": secret})
        rulebook.wait_listening(address, port)
        yield Loop(work, hosts, rulebook, recorder, url, secret)
    finally:
        if rulebook is not None:
            rulebook.stop()
            print(f"ansible-rulebook log: {rulebook.log_path}")
        recorder.stop()
        hosts.remove()
        print("\n".join(TIMINGS))


def test_a_full_file_system_is_cleaned_on_that_host_only(loop: Loop) -> None:
    assert loop.present(WEB1, OLD_FILES) == OLD_FILES
    filled = time.time()
    # 24 MiB of old logs + 1 MiB + 30 MiB = 86 % of the 64 MiB /var/log: above LogsFull's 80 %.
    loop.hosts.sh(WEB1, "head -c 30M /dev/zero > /var/log/fill.bin")
    done = loop.wait(
        "clean_files done on web1",
        lambda: loop.ledger(host=WEB1, action="clean_files:/var/log", phase="done"),
    )[0]
    assert done["result"] == "changed" and done["mode"] == "live", done
    assert done["details"].startswith("removed 3 file(s)"), done
    assert done["alert"]["alertname"] == "LogsFull" and "ansible-rulebook" in done["who"]
    # Only the old rotated logs went; the new log, the symlink (and its target), the file that
    # filled the disk and the other host's files are all still there.
    assert loop.present(WEB1, OLD_FILES) == []
    assert loop.present(WEB1, [*KEPT_FILES, "/var/log/fill.bin", "/etc/passwd"]) == [
        *KEPT_FILES,
        "/var/log/fill.bin",
        "/etc/passwd",
    ]
    assert loop.present(WEB2, OLD_FILES + KEPT_FILES) == OLD_FILES + KEPT_FILES
    assert loop.ledger(host=WEB2) == []
    # The journal is on a file system of its own here: not vacuumed, and the ledger says why.
    (journal,) = loop.ledger(host=WEB1, action="journal_vacuum")
    assert journal["result"] == "skipped" and "not on /var/log" in journal["details"]
    loop.wait("LogsFull resolved on web1", lambda: not loop.firing(WEB1, "LogsFull"))
    resolved = time.time()
    posted = [r.json() for r in loop.recorder.accepted() if r.path == "/remediation"]
    assert any(p["action"] == "clean_files:/var/log" and p["phase"] == "done" for p in posted)
    started = loop.ledger(host=WEB1, action="clean_files:/var/log", phase="started")[0]
    detected = parse_time(done["alert"]["starts_at"])
    timing(
        "file system",
        fill_to_alert=detected - filled,
        alert_to_action_start=started["ts"] - detected,
        alert_to_remediated=done["ts"] - detected,
        fill_to_resolved=resolved - filled,
    )


def test_a_killed_service_is_restarted(loop: Loop) -> None:
    other_pid = loop.hosts.sh(WEB2, "systemctl show -p MainPID --value aiops-demo").strip()
    killed = time.time()
    loop.hosts.sh(WEB1, "pkill -KILL -x aiops-demo")
    done = loop.wait(
        "restart_unit done on web1",
        lambda: loop.ledger(host=WEB1, action="restart_unit:aiops-demo.service", phase="done"),
    )[0]
    assert done["result"] == "changed" and "restarted aiops-demo.service" in done["details"]
    assert loop.hosts.sh(WEB1, "systemctl is-active aiops-demo").strip() == "active"
    assert loop.hosts.sh(WEB2, "systemctl show -p MainPID --value aiops-demo").strip() == other_pid
    loop.wait("DemoDown resolved on web1", lambda: not loop.firing(WEB1, "DemoDown"))
    detected = parse_time(done["alert"]["starts_at"])
    timing(
        "killed service", kill_to_alert=detected - killed, alert_to_restarted=done["ts"] - detected
    )


def test_a_flapping_alert_hits_the_rate_limit(loop: Loop) -> None:
    action = "restart_unit:aiops-hog.service"
    loop.hosts.sh(WEB1, "systemctl start aiops-hog")
    try:
        refused = loop.wait(
            "the third HogMemory restart refused",
            lambda: loop.ledger(host=WEB1, action=action, phase="refused"),
            timeout=2 * DEADLINE,
        )[0]
    finally:
        loop.hosts.sh(WEB1, "systemctl stop aiops-hog")
    assert refused["details"] == (
        f"rate limit: 2 of 2 {action} actions on {WEB1} in the last 3600s"
    ), refused
    restarts = loop.ledger(host=WEB1, action=action, phase="done", result="changed")
    assert len(restarts) == 2, restarts
    assert len(loop.ledger(host=WEB1, action=action, phase="started")) == 2
    first = parse_time(restarts[0]["alert"]["starts_at"])
    timing(
        "flapping memory hog",
        alert_to_first_restart=restarts[0]["ts"] - first,
        first_alert_to_refusal=refused["ts"] - first,
    )


def test_dry_run_reports_and_changes_nothing(loop: Loop) -> None:
    (loop.inventory / "host_vars" / f"{WEB2}.yml").write_text("aiops_remediation_dry_run: true\n")
    try:
        loop.hosts.sh(WEB2, "head -c 30M /dev/zero > /var/log/fill.bin")
        done = loop.wait(
            "clean_files dry run on web2",
            lambda: loop.ledger(host=WEB2, action="clean_files:/var/log", phase="done"),
        )[0]
    finally:
        (loop.inventory / "host_vars" / f"{WEB2}.yml").unlink()
    assert done["mode"] == "dry-run" and done["details"].startswith("would remove 3 file(s)")
    assert loop.present(WEB2, OLD_FILES + KEPT_FILES) == OLD_FILES + KEPT_FILES
    assert loop.firing(WEB2, "LogsFull")  # nothing was freed
    loop.hosts.sh(WEB2, "rm /var/log/fill.bin")


def test_the_kill_switch_refuses_every_action(loop: Loop) -> None:
    action = "restart_unit:aiops-demo.service"
    loop.hosts.sh(WEB1, "systemctl start aiops-demo")  # up, whatever the tests before did
    loop.wait("DemoDown not firing on web1", lambda: not loop.firing(WEB1, "DemoDown"))
    before = len(loop.ledger(host=WEB1, action=action, phase="started"))
    loop.kill_switch.touch()
    try:
        loop.hosts.sh(WEB1, "pkill -KILL -x aiops-demo")
        refused = loop.wait(
            "restart refused by the kill switch",
            lambda: loop.ledger(host=WEB1, action=action, phase="refused"),
        )[0]
    finally:
        loop.kill_switch.unlink()
    assert refused["details"] == f"kill switch: {loop.kill_switch} exists"
    assert loop.hosts.sh(WEB1, "systemctl is-active aiops-demo", check=False).strip() != "active"
    assert len(loop.ledger(host=WEB1, action=action, phase="started")) == before
    loop.hosts.sh(WEB1, "systemctl start aiops-demo")


def test_a_host_outside_the_inventory_gets_nothing_and_is_reported(loop: Loop) -> None:
    body = alert_document("ghost-9", "DemoDown", secrets.token_hex(16), groupname="demo")
    answer = loop.post(body, sign(loop.secret, body))
    assert answer.status_code == 200
    message = "DemoDown from host ghost-9, which is not in the inventory: nothing done"
    loop.wait("the rulebook's message", lambda: message in loop.rulebook.log_text(), timeout=60)
    assert loop.ledger(host="ghost-9") == []


def test_forged_and_unsigned_webhooks_are_refused(loop: Loop) -> None:
    forged_key, unsigned_key = secrets.token_hex(16), secrets.token_hex(16)
    forged = alert_document(WEB1, "DemoDown", forged_key, groupname="demo")
    unsigned = alert_document(WEB1, "DemoDown", unsigned_key, groupname="demo")
    answers = {
        "forged": loop.post(forged, sign("not-the-secret", forged)),
        "unsigned": loop.post(unsigned, {"Content-Type": "application/json"}),
    }
    assert {k: a.status_code for k, a in answers.items()} == {"forged": 401, "unsigned": 400}
    assert answers["forged"].text == "HMAC verification failed"
    assert answers["unsigned"].text == "Signature header not found"
    # Events are handled in order: once a later, signed one has been seen, the refused ones
    # would have been too.
    marker = alert_document("ghost-10", "DemoDown", secrets.token_hex(16), groupname="demo")
    assert loop.post(marker, sign(loop.secret, marker)).status_code == 200
    loop.wait(
        "the marker event",
        lambda: "from host ghost-10, which is not in the inventory" in loop.rulebook.log_text(),
        timeout=60,
    )
    log = loop.rulebook.log_text()
    assert '"POST /aiops HTTP/1.1" 401' in log and '"POST /aiops HTTP/1.1" 400' in log
    keys = {e["alert"].get("idempotency_key") for e in loop.ledger()}
    assert forged_key not in keys and unsigned_key not in keys
