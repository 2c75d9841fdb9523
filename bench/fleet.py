"""Fleet convergence: wall time of playbooks/site.yml on 1, 3 and 6 systemd podman hosts, first run
and idempotent re-run, against `ansible -m ping` on the same hosts (the floor: connection and
fact-free module round trip). Hosts come from scripts/fleet.sh (`up N` boots them, writes an
inventory and converges site.yml; `down` removes them).

The first run's time is the playbook's own duration as reported by the ansible.posix.timer
callback (enabled through the environment for everything fleet.sh runs), so booting the containers
is not counted; the whole `fleet.sh up N` is reported separately.

Environment: FLEET_SIZES (1,3,6; QUICK=1: 1), PING_REPS (3), FLEET_INVENTORY (path; default:
what fleet.sh prints or writes), ANSIBLE_BIN (directory with ansible, ansible-playbook).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

QUICK = os.environ.get("QUICK", "") not in ("", "0")
SIZES = [int(n) for n in os.environ.get("FLEET_SIZES", "1" if QUICK else "1,3,6").split(",")]
PING_REPS = int(os.environ.get("PING_REPS", "3"))
FLEET = bl.ROOT / "scripts" / "fleet.sh"
SITE = bl.ROOT / "playbooks" / "site.yml"
TIMEOUT = 1800


def ansible_bin() -> Path:
    if os.environ.get("ANSIBLE_BIN"):
        return Path(os.environ["ANSIBLE_BIN"])
    venv = bl.ROOT / ".venv" / "bin"
    if (venv / "ansible-playbook").exists():
        return venv
    found = shutil.which("ansible-playbook")
    return Path(found).parent if found else venv


def env() -> dict[str, str]:
    bindir = str(ansible_bin())
    return {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }


def run(cmd: list[str], log: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    out = subprocess.run(
        cmd,
        cwd=bl.ROOT,
        env=env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - started
    text = out.stdout + out.stderr
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(cmd)}  # {seconds:.1f}s rc={out.returncode}\n{text}")
    return seconds, out.returncode, text


_TOOK = re.compile(
    r"Playbook run took (\d+) days?, (\d+) hours?, (\d+) minutes?, (\d+(?:\.\d+)?) seconds?"
)


def playbook_seconds(text: str) -> list[float]:
    return [
        int(d) * 86400 + int(h) * 3600 + int(m) * 60 + float(s)
        for d, h, m, s in _TOOK.findall(text)
    ]


def recap_changed(text: str) -> Optional[int]:
    counts = [int(n) for n in re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", text, re.M)]
    return sum(counts) if counts else None


def recap_failed(text: str) -> int:
    return sum(int(f) + int(u) for u, f in re.findall(r"unreachable=(\d+)\s+failed=(\d+)", text))


def find_inventory(text: str) -> Optional[Path]:
    if os.environ.get("FLEET_INVENTORY"):
        return Path(os.environ["FLEET_INVENTORY"])
    for match in re.finditer(r"(?:inventory|-i)[:= ]+(\S+)", text):
        candidate = Path(match.group(1).strip("'\"`"))
        if not candidate.is_absolute():
            candidate = bl.ROOT / candidate
        if candidate.is_file():
            return candidate
    return None


def main() -> int:
    document: dict[str, Any] = {"benchmark": "fleet", "quick": QUICK, "machine": bl.machine()}
    if not FLEET.exists() or not SITE.exists():
        document.update(
            status="skipped",
            reason=f"{FLEET.relative_to(bl.ROOT)} or {SITE.relative_to(bl.ROOT)} is not in the "
            "repository yet",
        )
        bl.write_json("fleet.json", document)
        bl.log(f"fleet: skipped ({document['reason']})")
        return 0
    if not (ansible_bin() / "ansible-playbook").exists():
        document.update(status="skipped", reason=f"no ansible-playbook in {ansible_bin()}")
        bl.write_json("fleet.json", document)
        bl.log(f"fleet: skipped ({document['reason']})")
        return 0
    bl.OUT.mkdir(parents=True, exist_ok=True)
    log = bl.OUT / "fleet.log"
    log.write_text("")
    points = []
    try:
        for hosts in SIZES:
            bl.log(f"fleet: {hosts} host(s): down, up")
            run(["bash", str(FLEET), "down"], log)
            up_s, code, text = run(["bash", str(FLEET), "up", str(hosts)], log)
            if code != 0:
                document.update(status="failed", reason=f"fleet.sh up {hosts} exited {code}")
                break
            inventory = find_inventory(text)
            if inventory is None:
                document.update(status="failed", reason="cannot find the inventory fleet.sh wrote")
                break
            took = playbook_seconds(text)
            first = took[-1] if took else None
            first_changed = recap_changed(text)
            pings = []
            for _ in range(PING_REPS):
                seconds, code, _ = run(["ansible", "-i", str(inventory), "all", "-m", "ping"], log)
                if code == 0:
                    pings.append(seconds)
            bl.log(f"fleet: {hosts} host(s): re-run site.yml")
            rerun_s, code, rerun_text = run(
                ["ansible-playbook", "-i", str(inventory), str(SITE)], log
            )
            rerun_took = playbook_seconds(rerun_text)
            points.append(
                {
                    "hosts": hosts,
                    "fleet_up_s": up_s,
                    "first_run_s": first,
                    "first_run_changed": first_changed,
                    "ping_s": bl.median(pings) if pings else None,
                    "pings": pings,
                    "rerun_s": rerun_s,
                    "rerun_playbook_s": rerun_took[-1] if rerun_took else None,
                    "rerun_changed": recap_changed(rerun_text),
                    "rerun_failed": recap_failed(rerun_text),
                    "rerun_rc": code,
                }
            )
            bl.log(f"fleet: {points[-1]}")
        else:
            document["status"] = "ok"
    finally:
        run(["bash", str(FLEET), "down"], log)
    document["points"] = points
    document["ping_reps"] = PING_REPS
    document["note"] = (
        "First run: the playbook's own duration inside `fleet.sh up N` (timer callback); re-run: "
        "wall time of `ansible-playbook` from the shell, so it includes Ansible's start-up like "
        "the ping does."
    )
    bl.log(f"wrote {bl.write_json('fleet.json', document)}")
    return 0 if document["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
