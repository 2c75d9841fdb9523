"""Scoring: the recorder's notifications against the run's timeline, and RESULTS.md from that.

A notification is one alert's transition as a receiver saw it: the first `firing` of an alert
episode (an alert's fingerprint and start time), then its `resolved`. Alertmanager and the
agent (webhook version 2) post groups, which repeat alerts already notified (those are folded
into their episode); the agent's version 1 posted one alert per request.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any, Optional

from catalogue import NOT_RUN, SYSTEM_TITLES, Fault, fault

PATHS = {
    "/agent": "agent",
    "/agent-thresholds": "agent_thresholds",
    "/agent-anomaly": "agent_anomaly",  # results saved before HostAnomalousSeries was a default
    "/alertmanager": "prometheus",
}


@dataclass
class Episode:
    system: str
    alertname: str
    labels: dict[str, str]
    fired: float  # arrival of its first firing notification
    resolved: Optional[float] = None

    def brief(self) -> str:
        wanted = ("severity", "mountpoint", "series", "device")
        extra = ", ".join(f"{k}={self.labels[k]}" for k in wanted if self.labels.get(k))
        return f"{self.alertname} ({extra})" if extra else self.alertname


def episodes(records: list[dict[str, Any]]) -> dict[str, list[Episode]]:
    found: dict[str, dict[tuple[str, str], Episode]] = {system: {} for system in PATHS.values()}
    for record in sorted(records, key=lambda r: float(r["t"])):
        system = PATHS.get(record["path"])
        if system is None:
            continue
        body = record["body"]
        # Alertmanager and the agent's webhook version 2 post a group's alerts; version 1 (before
        # notification grouping) posted one alert per request.
        alerts = body.get("alerts") or ([body["alert"]] if body.get("alert") else [])
        for alert in alerts or []:
            labels = alert.get("labels") or {}
            started = alert.get("startsAt") or alert.get("starts_at") or ""
            key = (str(alert.get("fingerprint")), str(started))
            episode = found[system].get(key)
            if alert.get("status") == "firing" and episode is None:
                found[system][key] = Episode(
                    system, labels.get("alertname", "?"), labels, float(record["t"])
                )
            elif alert.get("status") == "resolved" and episode and episode.resolved is None:
                episode.resolved = float(record["t"])
    return {system: sorted(eps.values(), key=lambda e: e.fired) for system, eps in found.items()}


def right_kind(episode: Episode, item: Fault, system: str) -> bool:
    if item.mountpoint and episode.labels.get("mountpoint") != item.mountpoint:
        return False
    if episode.alertname in item.right_kinds(system):
        return True
    # Any agent with the learned-baseline rule on (a default) may catch a fault through it.
    return (
        system != "prometheus"
        and episode.alertname == "HostAnomalousSeries"
        and episode.labels.get("series") in item.anomaly
    )


def onset_of(episode: Episode, onsets: list[dict[str, Any]]) -> float | None:
    """When the condition of the episode's alert began (its latest activeAt before it fired)."""
    times = [
        onset["active_at"]
        for onset in onsets
        if onset["labels"] == episode.labels and onset["active_at"] <= episode.fired
    ]
    return max(times) if times else None


def score_fault(
    item: Fault,
    phase: dict[str, float],
    system: str,
    eps: list[Episode],
    onsets: list[dict[str, Any]],
) -> dict[str, Any]:
    start, recovered, end = phase["start"], phase["recovered"], phase["end"]
    inside = [e for e in eps if start <= e.fired < end]
    right = [e for e in inside if right_kind(e, item, system)]
    first = right[0] if right else None
    onset = None if first is None else onset_of(first, onsets)
    resolve_after = [
        None if e.resolved is None else round(e.resolved - recovered, 1) for e in inside
    ]
    return {
        "detected": first is not None,
        "detection_s": None if first is None else round(first.fired - start, 1),
        # the condition began (activeAt) this long after injection, and was notified this long
        # after it began (the rule's `for`, evaluation and delivery)
        "condition_s": None if onset is None else round(onset - start, 1),
        "after_condition_s": None
        if onset is None or first is None
        else round(first.fired - onset, 1),
        "first": None if first is None else first.brief(),
        "right_kinds": sorted(item.right_kinds(system)),
        "alerts": [
            {
                "alert": e.brief(),
                "right_kind": right_kind(e, item, system),
                "fired_s": round(e.fired - start, 1),
                "resolved_after_recovery_s": after,
            }
            for e, after in zip(inside, resolve_after)
        ],
        "all_resolved": all(after is not None for after in resolve_after),
        "resolve_s": max((a for a in resolve_after if a is not None), default=None),
    }


def near_misses(
    onsets: list[dict[str, Any]], base: dict[str, float], system: str
) -> list[dict[str, Any]] | None:
    """Alerts that went pending in the quiet baseline and never fired, longest first, with how
    long their condition held (to the poll's 2 s): the margin the rules' `for` kept. Runs saved
    before the poller recorded last_seen have none."""
    if not any("last_seen" in onset for onset in onsets):
        return None
    held = [
        (min(onset["last_seen"], base["end"]) - onset["active_at"], onset)
        for onset in onsets
        if "last_seen" in onset
        and not onset["firing"]
        and base["start"] <= onset["active_at"] < base["end"]
    ]
    return [
        {
            "alert": Episode(
                system, onset["labels"].get("alertname", ""), onset["labels"], 0.0
            ).brief(),
            "held_s": round(seconds, 1),
        }
        for seconds, onset in sorted(held, key=lambda pair: -pair[0])
    ]


def score(
    records: list[dict[str, Any]], timeline: dict[str, Any], systems: tuple[str, ...]
) -> dict[str, Any]:
    eps = episodes(records)
    scale = timeline["time_scale"]
    onsets = timeline.get("onsets", {})
    base = timeline["baseline"]
    hours = (base["end"] - base["start"]) / 3600
    result: dict[str, Any] = {"systems": {}, "faults": {}}
    for system in systems:
        false = [e for e in eps[system] if base["start"] <= e.fired < base["end"]]
        warm = timeline.get("warmup")
        in_warmup = [e for e in eps[system] if warm and warm["start"] <= e.fired < warm["end"]]
        result["systems"][system] = {
            "near_misses": near_misses(onsets.get(system, []), base, system),
            "false_notifications": len(false),
            "false_alerts": [
                {"alert": e.brief(), "at_s": round(e.fired - base["start"], 1)} for e in false
            ],
            "baseline_hours": round(hours, 3),
            "baseline_host_hours": round(hours * scale, 2),
            "false_per_host_hour": round(len(false) / (hours * scale), 3) if hours else None,
            "notifications_in_warmup": [e.brief() for e in in_warmup],
            "episodes": [asdict(e) for e in eps[system]],
        }
    for name, phase in timeline["faults"].items():
        item = fault(name)
        result["faults"][name] = {
            "title": item.title,
            "evidence": phase.get("evidence"),
            "threshold": item.threshold,
            **{
                system: score_fault(item, phase, system, eps[system], onsets.get(system, []))
                for system in systems
            },
        }
    for system in systems:
        rows = [result["faults"][name][system] for name in timeline["faults"]]
        threshold = [
            result["faults"][name][system]["detection_s"]
            for name in timeline["faults"]
            if result["faults"][name]["threshold"] and result["faults"][name][system]["detected"]
        ]
        after = [
            result["faults"][name][system]["after_condition_s"]
            for name in timeline["faults"]
            if result["faults"][name]["threshold"]
            and result["faults"][name][system]["after_condition_s"] is not None
        ]
        result["systems"][system].update(
            median_after_condition_threshold_s=statistics.median(after) if after else None,
            detected=sum(row["detected"] for row in rows),
            faults=len(rows),
            median_detection_threshold_s=statistics.median(threshold) if threshold else None,
            all_resolved=all(row["all_resolved"] for row in rows),
        )
    return result


# --- report -------------------------------------------------------------------------------
def _cell(row: dict[str, Any]) -> str:
    if not row["detected"]:
        others = sorted({a["alert"].split(" ")[0] for a in row["alerts"]})
        return "**missed**" + (f" (fired: {', '.join(others)})" if others else "")
    resolved = "resolved" if row["all_resolved"] else "**not all resolved**"
    after = row["resolve_s"]
    tail = f"{resolved} {after:+.0f} s" if after is not None and row["all_resolved"] else resolved
    split = ""
    if row.get("after_condition_s") is not None:
        split = f" (level crossed at {row['condition_s']:.0f} s, +{row['after_condition_s']:.0f} s)"
    return f"{row['detection_s']:.0f} s{split}: {row['first']}; {tail}"


def _near_miss(stats: dict[str, Any]) -> str:
    misses = stats.get("near_misses")
    if misses is None:
        return "not recorded"
    if not misses:
        return "no alert went pending"
    return f"{misses[0]['held_s']:.0f} s, {misses[0]['alert']} ({len(misses)} pending in all)"


def _evidence(row: dict[str, Any]) -> str:
    evidence = row.get("evidence")
    if not evidence or evidence["peak"] is None:
        return "-"
    peak, what = evidence["peak"], evidence["what"]
    if what.endswith("used") or what == "CPU busy":
        return f"{what} {peak:.0%}"
    return f"{peak:,.1f} {what}" if peak < 100 else f"{peak:,.0f} {what}"


def render(result: dict[str, Any], meta: dict[str, Any]) -> str:
    systems = tuple(result["systems"])
    not_run = [reason for name, reason in NOT_RUN.items() if name not in meta["faults"]]
    titles = [SYSTEM_TITLES[s] for s in systems]
    lines = [
        "# Fault-injection benchmark",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} (setting `{meta['setting']}`, "
        f"agent {meta['agent_version']}, commit {meta['commit']}). Machine: {meta['machine']}.",
        "How it works, the time scale and what each column means: "
        "[README.md](README.md). Raw figures: [results.json](results.json).",
        "",
        f"Time scale {meta['time_scale']}: the agent collects every {meta['interval']:g} s "
        f"where its default is 15 s, so 1 s here is {meta['time_scale']} s of a host's life. "
        "Detection and resolve times below are in benchmark seconds (multiply by "
        f"{meta['time_scale']} for host time; divide by {meta['interval']:g} s for collection "
        "intervals). Each fault is held "
        f"{meta['hold']:g} s ({meta['hold'] * meta['time_scale'] / 60:g} host-minutes), gradual "
        f"ones reaching their worst after {meta['ramp']:g} s, then recovered and watched for "
        f"{meta['recovery']:g} s.",
        "",
    ]
    if meta.get("swap_file_mib"):
        lines += [
            f"This run added a swap file of {meta['swap_file_mib']} MiB to the machine "
            "(`--swap-file`) for the swap storm, and removed it at the end; the host container "
            "could swap up to that much.",
            "",
        ]
    lines += [
        "## Summary",
        "",
        "| | " + " | ".join(titles) + " |",
        "|---|" + "---|" * len(systems),
    ]
    stats = [result["systems"][s] for s in systems]
    lines.append(
        "| faults detected (right kind) | "
        + " | ".join(f"{s['detected']} / {s['faults']}" for s in stats)
        + " |"
    )
    lines.append(
        "| median detection, threshold faults | "
        + " | ".join(
            "-"
            if s["median_detection_threshold_s"] is None
            else f"{s['median_detection_threshold_s']:.0f} s "
            f"({s['median_detection_threshold_s'] / meta['interval']:.0f} intervals)"
            for s in stats
        )
        + " |"
    )
    lines.append(
        "| median time from the level's crossing (activeAt) to the notification, threshold "
        "faults | "
        + " | ".join(
            "-"
            if s["median_after_condition_threshold_s"] is None
            else f"{s['median_after_condition_threshold_s']:.0f} s "
            f"({s['median_after_condition_threshold_s'] / meta['interval']:.0f} intervals)"
            for s in stats
        )
        + " |"
    )
    lines.append(
        "| false notifications, quiet baseline | "
        + " | ".join(
            f"{s['false_notifications']} in {s['baseline_host_hours']:g} host-hours "
            f"({s['false_per_host_hour']:g}/host-hour)"
            for s in stats
        )
        + " |"
    )
    lines.append(
        "| nearest miss, quiet baseline: the longest a condition held without firing | "
        + " | ".join(_near_miss(s) for s in stats)
        + " |"
    )
    lines.append(
        "| every alert resolved after recovery | "
        + " | ".join("yes" if s["all_resolved"] else "**no**" for s in stats)
        + " |"
    )
    lines += [
        "",
        "## Per fault",
        "",
        "Time from injection to the first notification of the right kind (in brackets: when its "
        "condition began, from the alert's activeAt, and how long after that it was notified), "
        "that alert, and the "
        "latest resolve of any alert that fired during the fault, counted from recovery (a "
        "negative figure: it cleared before the fault was removed). Peak: the fault's highest "
        "effect during its hold as node_exporter saw it (when Prometheus ran).",
        "",
        "| fault | peak | " + " | ".join(titles) + " |",
        "|---|---|" + "---|" * len(systems),
    ]
    for row in result["faults"].values():
        lines.append(
            f"| {row['title']} | {_evidence(row)} | "
            + " | ".join(_cell(row[s]) for s in systems)
            + " |"
        )
    for reason in not_run:
        lines.append(
            f"| {reason.split(':')[0]} | - | " + " | ".join("not run" for _ in systems) + " |"
        )
    lines += ["", "## Alerts that fired during each fault", ""]
    for name, row in result["faults"].items():
        lines.append(f"- **{name}**")
        for system in systems:
            fired = row[system]["alerts"]
            text = "; ".join(
                f"{a['alert']} at {a['fired_s']:.0f} s" + ("" if a["right_kind"] else " (other)")
                for a in fired
            )
            lines.append(f"  - {SYSTEM_TITLES[system]}: {text or 'nothing'}")
    lines += ["", "## Quiet baseline", ""]
    for system in systems:
        stat = result["systems"][system]
        false = "; ".join(f"{a['alert']} at {a['at_s']:.0f} s" for a in stat["false_alerts"])
        lines.append(f"- {SYSTEM_TITLES[system]}: {false or 'no notification'}")
        if stat["notifications_in_warmup"]:
            warm = "; ".join(stat["notifications_in_warmup"])
            lines.append(f"  - during the warm-up before it (not counted): {warm}")
    if not_run:
        lines += ["", "## Not run", ""]
        lines += [f"- {reason}" for reason in not_run]
    lines += [
        "",
        "What these figures say: [README.md](README.md#findings-from-the-latest-run).",
        "",
    ]
    return "\n".join(lines)
