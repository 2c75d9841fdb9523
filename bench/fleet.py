"""Fleet convergence: wall time of playbooks/site.yml on 1, 3 and 6 systemd podman hosts, first run
and idempotent re-run, against `ansible -m ping` on the same hosts (the floor: one connection and
one module round trip per host). Hosts come from scripts/fleet.sh: `up N` boots them, writes an
inventory, deploys site.yml and re-runs it, printing "deployed in S s" for each (whole seconds);
then this script pings the hosts and re-runs site.yml itself (sub-second wall time), and finally
`fleet.sh down`. A fleet that someone else already has up is left alone (the run is skipped).

Environment: FLEET_SIZES (1,3,6; QUICK=1: 1), PING_REPS (3), ANSIBLE_BIN (a directory with
ansible and ansible-playbook; default: PATH, else the venv fleet.sh installs).
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


CACHE = Path(
    os.environ.get("AIOPS_CACHE_DIR")
    or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "aiops-agent"
    )
)
INVENTORY = CACHE / "fleet" / "inventory"
VAULT_PASS = bl.ROOT / "inventory.example.vault-pass"
LABEL = "io.aiops-agent.fleet=1"


def ansible_bin() -> Path:
    if os.environ.get("ANSIBLE_BIN"):
        return Path(os.environ["ANSIBLE_BIN"])
    found = shutil.which("ansible-playbook")
    return Path(found).parent if found else CACHE / "ansible-venv" / "bin"


def env() -> dict[str, str]:
    bindir = str(ansible_bin())
    return {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }


def run(
    cmd: list[str], log: Path, extra_env: Optional[dict[str, str]] = None
) -> tuple[float, int, str]:
    started = time.perf_counter()
    out = subprocess.run(
        cmd,
        cwd=bl.ROOT,
        env={**env(), **(extra_env or {})},
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


_TASK_TIME = re.compile(r"^(.+?) -+ (\d+\.\d+)s$", re.M)


def slowest_tasks(text: str) -> list[dict[str, Any]]:
    """profile_tasks' closing list: the tasks that took longest (seconds, all hosts of a batch)."""
    tail = text[text.rfind("PLAY RECAP") :]
    rows = [{"task": t.strip(), "s": float(v)} for t, v in _TASK_TIME.findall(tail)]
    return sorted(rows, key=lambda r: -r["s"])[:8]


def recap_changed(text: str) -> Optional[int]:
    counts = [int(n) for n in re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", text, re.M)]
    return sum(counts) if counts else None


def recap_failed(text: str) -> int:
    return sum(int(f) + int(u) for u, f in re.findall(r"unreachable=(\d+)\s+failed=(\d+)", text))


_DEPLOYED = re.compile(r"fleet: deployed in (\d+) s; (.*)")


def fleet_in_use() -> bool:
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return bool(out.stdout.strip())


def recap_line_changed(recap: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", recap))


def one_size(hosts: int, log: Path) -> dict[str, Any]:
    bl.log(f"fleet: {hosts} host(s): fleet.sh up {hosts} (boot, deploy, re-deploy)")
    up_s, code, text = run(["bash", str(FLEET), "up", str(hosts)], log)
    deployed = _DEPLOYED.findall(text)
    point: dict[str, Any] = {"hosts": hosts, "fleet_up_s": up_s, "fleet_up_rc": code}
    if code != 0 or len(deployed) < 2 or not INVENTORY.exists():
        point["error"] = f"fleet.sh up {hosts} exited {code}; see {log}"
        return point
    point.update(
        first_run_s=float(deployed[0][0]),
        first_run_changed=recap_line_changed(deployed[0][1]),
        rerun_fleet_sh_s=float(deployed[1][0]),
        rerun_fleet_sh_changed=recap_line_changed(deployed[1][1]),
    )
    vault = ["--vault-password-file", str(VAULT_PASS)] if VAULT_PASS.exists() else []
    pings = []
    for _ in range(PING_REPS):
        seconds, code, _ = run(["ansible", "-i", str(INVENTORY), *vault, "all", "-m", "ping"], log)
        if code == 0:
            pings.append(seconds)
    bl.log(f"fleet: {hosts} host(s): timed re-run of site.yml")
    rerun_s, code, rerun_text = run(
        ["ansible-playbook", "-i", str(INVENTORY), *vault, str(SITE)],
        log,
        {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"},
    )
    point.update(
        ping_s=bl.median(pings) if pings else None,
        pings=pings,
        rerun_s=rerun_s,
        rerun_rc=code,
        rerun_changed=recap_changed(rerun_text),
        rerun_failed=recap_failed(rerun_text),
        rerun_slowest_tasks=slowest_tasks(rerun_text),
    )
    return point


def main() -> int:
    document: dict[str, Any] = {"benchmark": "fleet", "quick": QUICK, "machine": bl.machine()}

    def skip(reason: str) -> int:
        document.update(status="skipped", reason=reason)
        bl.write_json("fleet.json", document)
        bl.log(f"fleet: skipped ({reason})")
        return 0

    if not FLEET.exists() or not SITE.exists():
        return skip("scripts/fleet.sh or playbooks/site.yml is not in the repository")
    if not shutil.which("podman"):
        return skip("podman is not installed (scripts/fleet.sh installs it: run it once)")
    if fleet_in_use() and not os.environ.get("FLEET_FORCE"):
        return skip("a fleet is already up (someone else's?); FLEET_FORCE=1 to take it down")
    bl.OUT.mkdir(parents=True, exist_ok=True)
    log = bl.OUT / "fleet.log"
    log.write_text("")
    points = []
    document["status"] = "ok"
    try:
        for hosts in SIZES:
            run(["bash", str(FLEET), "down"], log)
            points.append(one_size(hosts, log))
            bl.log(f"fleet: {points[-1]}")
            if "error" in points[-1]:
                document.update(status="failed", reason=points[-1]["error"])
                break
    finally:
        run(["bash", str(FLEET), "down"], log)
    document["points"] = points
    document["ping_reps"] = PING_REPS
    document["note"] = (
        "First run: `fleet.sh up N`'s own figure for the deployment (whole seconds, hosts already "
        "booted). Re-run and ping: wall time of `ansible-playbook` and `ansible` from the shell, "
        "Ansible's start-up included in both."
    )
    bl.log(f"wrote {bl.write_json('fleet.json', document)}")
    return 0 if document["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
