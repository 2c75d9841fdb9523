#!/usr/bin/python
# Copyright: aiops-agent developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: remediation_ledger
short_description: Gate and record automatic remediation actions in a ledger on the controller
version_added: "0.1.0"
description:
  - Keeps one JSON line per event of the remediation loop (an action refused, started or done) in
    a file on the controller. The file is both the audit record (who, what, which alert, result)
    and the state of the safety checks, so they survive a restart of ansible-rulebook.
  - With O(state=reserve) it decides whether an action may run on a host, under a lock so
    concurrent playbook runs cannot both pass; it refuses when the kill switch file exists or
    remediation is disabled, when the same notification was already handled (the agent delivers
    at least once), or when O(max_actions) live actions of the same kind already ran on the host
    within O(window) seconds. Dry-run reservations are recorded but do not count.
  - With O(state=record) it appends the action's result.
  - "Run it on the controller (C(delegate_to: localhost))."
author:
  - aiops-agent developers
options:
  path:
    description: The ledger file (JSON lines); its directory is created (0750) if missing.
    type: path
    required: true
  state:
    description:
      - C(reserve) decides and records the start (or the refusal); C(record) records a result.
    type: str
    choices: [reserve, record]
    default: reserve
  host:
    description: Inventory name of the host the action is for.
    type: str
    required: true
  action:
    description:
      - What runs, e.g. C(clean_files) or C(restart_unit:nginx.service).
      - Rate limits are per host and action.
    type: str
    required: true
  alert:
    description:
      - The alert that asked for it (alertname, severity, fingerprint, idempotency_key, labels).
    type: dict
    default: {}
  who:
    description:
      - Who acts, e.g. the rulebook and rule; the controller's user and host name are added.
    type: str
    default: ""
  dry_run:
    description: The action runs in check mode (reports what it would do).
    type: bool
    default: false
  enabled:
    description: C(false) refuses every action (the variable form of the kill switch).
    type: bool
    default: true
  kill_switch:
    description: While this file exists on the controller, every action is refused.
    type: path
    default: ""
  max_actions:
    description: Most live actions of this kind on this host within O(window); C(0) refuses all.
    type: int
    default: 3
  window:
    description: Seconds of the rate limit's window.
    type: int
    default: 3600
  result:
    description: For O(state=record), the outcome.
    type: str
    choices: [changed, unchanged, skipped, failed]
    default: unchanged
  details:
    description: For O(state=record), what was done or why not, in words.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: Nothing is written; the decision is still returned.
"""

EXAMPLES = r"""
- name: May we clean files on this host?
  aiops.agent.remediation_ledger:
    path: /var/lib/aiops-remediation/actions.jsonl
    host: "{{ inventory_hostname }}"
    action: clean_files
    alert: "{{ ansible_eda.event.payload.alert }}"
    max_actions: 3
    window: 3600
    kill_switch: /etc/aiops-remediation/disabled
  delegate_to: localhost
  register: gate

- name: Record the result
  aiops.agent.remediation_ledger:
    path: /var/lib/aiops-remediation/actions.jsonl
    state: record
    host: "{{ inventory_hostname }}"
    action: clean_files
    alert: "{{ ansible_eda.event.payload.alert }}"
    result: changed
    details: removed 12 files (48 MiB)
  delegate_to: localhost
"""

RETURN = r"""
allowed:
  description: Whether the action may run (O(state=reserve)); always true for O(state=record).
  returned: always
  type: bool
reason:
  description: Why it was refused, or an empty string.
  returned: always
  type: str
recent:
  description: Live actions of this kind on this host within the window, before this one.
  returned: always
  type: int
entry:
  description: The ledger line written (or that would be written in check mode).
  returned: always
  type: dict
"""

import datetime
import fcntl
import getpass
import json
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

# Alert fields worth keeping in the record: enough to find the alert again, not its whole body.
ALERT_KEYS = (
    "alertname",
    "severity",
    "fingerprint",
    "idempotency_key",
    "status",
    "starts_at",
    "value",
)


def summarize_alert(alert):
    labels = alert.get("labels") or {}
    summary = {key: alert[key] for key in ALERT_KEYS if key in alert}
    summary.setdefault("alertname", labels.get("alertname", ""))
    summary.setdefault("severity", labels.get("severity", ""))
    summary["labels"] = labels
    return summary


def decide(entries, params, now):
    """(allowed, reason, recent) for a reservation, given the ledger's earlier entries. The kill
    switch comes first, then a notification delivered twice, then the rate limit, which dry runs
    neither count towards nor hit."""
    key = params["alert"].get("idempotency_key")
    handled_at = None
    recent = 0
    for entry in entries:
        if entry.get("phase") != "started" or entry.get("host") != params["host"]:
            continue
        if entry.get("action") != params["action"]:
            continue
        if key and entry.get("alert", {}).get("idempotency_key") == key:
            handled_at = entry.get("time")
        if entry.get("mode") == "live" and entry.get("ts", 0) >= now - params["window"]:
            recent += 1
    if not params["enabled"]:
        return (
            False,
            "kill switch: remediation is disabled (aiops_remediation_enabled: false)",
            recent,
        )
    if params["kill_switch"] and os.path.exists(params["kill_switch"]):
        return False, f"kill switch: {params['kill_switch']} exists", recent
    if handled_at is not None:
        return False, f"duplicate: notification {key} was already handled at {handled_at}", recent
    if not params["dry_run"] and recent >= params["max_actions"]:
        reason = (
            f"rate limit: {recent} of {params['max_actions']} {params['action']} actions on "
            f"{params['host']} in the last {params['window']}s"
        )
        return False, reason, recent
    return True, "", recent


def read_entries(handle):
    """The ledger's entries. A line cut short by a crash is skipped, and ended, so the next
    entry starts on a line of its own."""
    handle.seek(0)
    entries = []
    line = ""
    for line in handle:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    if line and not line.endswith("\n"):
        handle.write("\n")
    return entries


def make_entry(params, phase, result, details, now):
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    if params["who"]:
        who = f"{who} ({params['who']})"
    return {
        "time": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(),
        "ts": now,
        "phase": phase,
        "host": params["host"],
        "action": params["action"],
        "mode": "dry-run" if params["dry_run"] else "live",
        "result": result,
        "details": details,
        "who": who,
        "alert": summarize_alert(params["alert"]),
    }


def run(params, check_mode, now=None):
    now = time.time() if now is None else now
    directory = os.path.dirname(params["path"]) or "."
    if not check_mode and not os.path.isdir(directory):
        os.makedirs(directory, 0o750)
    exists = os.path.exists(params["path"])
    if check_mode and not exists:
        handle = None
        entries = []
    else:
        descriptor = os.open(
            params["path"], os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640
        )
        handle = os.fdopen(descriptor, "r+", encoding="utf-8")
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        entries = read_entries(handle)
    try:
        if params["state"] == "record":
            allowed, reason, recent = True, "", 0
            entry = make_entry(params, "done", params["result"], params["details"], now)
        else:
            allowed, reason, recent = decide(entries, params, now)
            if allowed:
                entry = make_entry(params, "started", "started", "", now)
            else:
                entry = make_entry(params, "refused", "refused", reason, now)
        if handle is not None and not check_mode:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if handle is not None:
            handle.close()
    return {
        "changed": not check_mode,
        "allowed": allowed,
        "reason": reason,
        "recent": recent,
        "entry": entry,
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["reserve", "record"], default="reserve"),
            host=dict(type="str", required=True),
            action=dict(type="str", required=True),
            alert=dict(type="dict", default={}),
            who=dict(type="str", default=""),
            dry_run=dict(type="bool", default=False),
            enabled=dict(type="bool", default=True),
            kill_switch=dict(type="path", default=""),
            max_actions=dict(type="int", default=3),
            window=dict(type="int", default=3600),
            result=dict(
                type="str",
                choices=["changed", "unchanged", "skipped", "failed"],
                default="unchanged",
            ),
            details=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    if module.params["max_actions"] < 0 or module.params["window"] < 1:
        module.fail_json(msg="max_actions must be 0 or more and window at least 1 second")
    try:
        result = run(module.params, module.check_mode)
    except OSError as error:
        reason = error.strerror or str(error)
        module.fail_json(msg=f"cannot use the ledger {module.params['path']}: {reason}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
