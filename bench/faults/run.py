"""Fault-injection benchmark: real faults on a systemd host container, scored for aiops-agent with
its default configuration, the same with HostAnomalousSeries switched on, and node_exporter
scraped by Prometheus with a widely used node rule set. See README.md beside this file.

    python bench/faults/run.py [--setting full|smoke] [--faults cpu,memory] [--systems agent]
        [--swap-file 1G] [--out DIR]
    python bench/faults/run.py --rescore bench/faults/results.json

Needs root and podman. Writes results.json and RESULTS.md to --out (default: this directory for
the full setting, bench/out/faults-<setting>/ otherwise).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "agent")]

import catalogue  # noqa: E402
import host as hostlib  # noqa: E402
import monitors  # noqa: E402
import score  # noqa: E402
import swap  # noqa: E402
from catalogue import INTERVAL, SETTINGS, SYSTEMS, TIME_SCALE, Setting  # noqa: E402

from aiops_agent import __version__ as agent_version  # noqa: E402
from aiops_agent.config.alerting_schema import (  # noqa: E402
    DEFAULT_RULES,
    AlertingSection,
    BaselineSettings,
    RuleSettings,
)
from aiops_agent.config.schema import ProcessesSection  # noqa: E402


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} faults: {message}", flush=True)


def scaled_duration(seconds: float) -> str:
    return f"{seconds / TIME_SCALE:g}s"


def scaled_rule(rule: RuleSettings) -> dict[str, Any]:
    """A default rule's durations, scaled: its `for` and a forecast's windows (the histories the
    long and short fits read), as Prometheus' ranges are."""
    scaled: dict[str, Any] = {}
    if float(rule.for_) > 0:
        scaled["for"] = scaled_duration(float(rule.for_))
    if rule.forecast is not None:
        forecast = dataclasses.asdict(rule.forecast)  # the override replaces all its keys
        scaled["forecast"] = {
            **forecast,
            "window": scaled_duration(float(rule.forecast.window)),
            "short_window": scaled_duration(float(rule.forecast.short_window)),
        }
    return scaled


def agent_config(webhook: str) -> dict[str, Any]:
    """What the benchmark sets over the agent's defaults: only durations, scaled, and the
    webhook. Read from the agent's own default rule set, so it follows whatever it is today."""
    alerting = AlertingSection()
    return {
        "detection": {
            "default_rules": {
                rule.name: scaled_rule(rule) for rule in DEFAULT_RULES if scaled_rule(rule)
            }
        },
        "alerting": {
            "repeat_interval": scaled_duration(float(alerting.repeat_interval)),
            "resolve_timeout": scaled_duration(float(alerting.resolve_timeout)),
        },
        # The process table's pass (fd and process-limit rules read it) is a duration too.
        "processes": {"interval": scaled_duration(float(ProcessesSection().interval))},
        "receivers": {"bench": {"webhook": {"url": webhook}}},
        "routes": [{"receiver": "bench"}],
    }


def thresholds_variant(config: dict[str, Any], webhook: str) -> dict[str, Any]:
    """The role's config without the learned-baseline rule: what the threshold rules catch."""
    variant = json.loads(json.dumps(config))
    variant["agent"]["state_dir"] = "/var/lib/aiops-agent-second"
    variant["http"]["listen"] = "127.0.0.1:9878"
    variant["receivers"]["bench"]["webhook"]["url"] = webhook
    rules = variant["detection"]["default_rules"]
    rules.setdefault("HostAnomalousSeries", {})["enabled"] = False
    return variant


def warmup_seconds() -> float:
    return BaselineSettings().warmup * INTERVAL + 10


def wait(seconds: float, what: str) -> None:
    log(f"{what}: {seconds:g} s")
    time.sleep(seconds)


def run_timeline(setting: Setting, host: hostlib.Host) -> dict[str, Any]:
    timeline: dict[str, Any] = {"interval": INTERVAL, "time_scale": TIME_SCALE, "faults": {}}
    if setting.warmup:
        start = time.time()
        wait(warmup_seconds(), "baseline warm-up (not scored)")
        timeline["warmup"] = {"start": start, "end": time.time()}
    start = time.time()
    wait(setting.baseline, "quiet baseline")
    timeline["baseline"] = {"start": start, "end": time.time()}
    for name in setting.faults:
        item = catalogue.fault(name)
        unit = f"bench-fault-{name.replace('_', '-')}"
        command = item.command.replace("{ramp}", f"{setting.ramp:g}")
        command = command.replace("{storm_mib}", str(setting.storm_mib))
        start = time.time()
        host.inject(unit, command, item.properties)
        wait(setting.hold, f"fault {name} injected")
        recovered = time.time()
        host.recover(unit, item.cleanup)
        wait(max(0.0, setting.recovery - (time.time() - recovered)), f"fault {name} recovered")
        timeline["faults"][name] = {"start": start, "recovered": recovered, "end": time.time()}
    wait(setting.drain, "drain")
    return timeline


def add_evidence(stack: monitors.PrometheusStack, timeline: dict[str, Any]) -> None:
    """How far each fault went, as node_exporter saw it: the peak of its evidence expression."""
    for name, phase in timeline["faults"].items():
        expr, what = catalogue.fault(name).evidence
        try:
            value = stack.peak(expr, phase["start"], phase["recovered"])
        except (OSError, ValueError, KeyError) as error:
            log(f"evidence for {name}: {error}")
            continue
        phase["evidence"] = {"what": what, "peak": value, "expr": expr}


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as info:
        total = int(info.readline().split()[1]) // 1024
    return (
        f"{platform.node() or 'host'}, {cpus} CPUs shared, {total} MiB, Linux {platform.release()}"
    )


def parse(argv: list[str]) -> tuple[Setting, Path]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="full")
    parser.add_argument("--faults", help="comma-separated subset, e.g. cpu,disk_fill")
    parser.add_argument("--systems", help="comma-separated subset of " + ",".join(SYSTEMS))
    parser.add_argument("--baseline", type=float, help="seconds of quiet baseline")
    parser.add_argument("--hold", type=float, help="seconds each fault is held")
    parser.add_argument("--recovery", type=float, help="seconds watched after each recovery")
    parser.add_argument("--no-warmup", action="store_true", help="skip the baselines' warm-up")
    parser.add_argument(
        "--swap-file",
        metavar="SIZE",
        help="add a swap file of SIZE (e.g. 1G) to the machine for the run, so that the swap "
        "storm runs (the host container may swap up to SIZE); removed at the end. Refused if "
        "the machine already has swap. Without it the swap storm is not run",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    setting = SETTINGS[args.setting]
    if args.faults:
        setting = dataclasses.replace(setting, faults=tuple(args.faults.split(",")))
        try:
            for name in setting.faults:
                catalogue.fault(name)
        except KeyError as error:
            parser.error(str(error))
    needing_swap = [name for name in setting.faults if catalogue.fault(name).needs_swap]
    if args.swap_file is not None:
        try:
            setting = dataclasses.replace(setting, swap_bytes=swap.parse_size(args.swap_file))
        except ValueError as error:
            parser.error(f"--swap-file: {error}")
        if not needing_swap:
            parser.error("--swap-file: no fault of this run needs swap (the swap storm does)")
    elif args.faults and needing_swap:
        parser.error(f"{', '.join(needing_swap)} needs swap: add --swap-file SIZE (e.g. 1G)")
    else:  # the setting's own list: what needs swap is reported "not run"
        faults = tuple(name for name in setting.faults if name not in needing_swap)
        setting = dataclasses.replace(setting, faults=faults)
    if args.systems:
        systems = tuple(args.systems.split(","))
        unknown = set(systems) - set(SYSTEMS)
        if unknown:
            parser.error(f"unknown systems {sorted(unknown)}; known: {', '.join(SYSTEMS)}")
        setting = dataclasses.replace(setting, systems=systems)
    for name in ("baseline", "hold", "recovery"):
        if getattr(args, name) is not None:
            setting = dataclasses.replace(setting, **{name: getattr(args, name)})
    if args.no_warmup:
        setting = dataclasses.replace(setting, warmup=False)
    if os.geteuid() != 0:
        parser.error("needs root (podman, loop mounts, LXCFS)")
    default_out = (
        HERE if setting.name == "full" else ROOT / "bench" / "out" / f"faults-{setting.name}"
    )
    return setting, args.out or default_out


def bring_up(setting: Setting, host: hostlib.Host, recorder_stack: list[Any]) -> dict[str, Any]:
    """Container, agents, Prometheus; returns the agent's configuration over its defaults."""
    host.create_network()
    image = hostlib.ensure_image(catalogue.packages(setting), host.env, host.network)
    log(f"host container from {image}")
    host.start(image)
    host.exec("/opt/faults/setup.sh", "background" if setting.background else "")
    if "prometheus" in setting.systems:
        host.exec("systemctl", "enable", "--now", "prometheus-node-exporter")
    elif image != hostlib.BASE_IMAGE:
        host.exec("systemctl", "disable", "--now", "prometheus-node-exporter", check=False)
    recorder = monitors.Recorder(host.gateway, host.workdir / "notifications.jsonl")
    recorder_stack.append(recorder)
    config_extra = agent_config(f"{recorder.url}/agent")
    log("deploying the agent with roles/aiops_agent (playbooks/site.yml)")
    hostlib.deploy_agent(host, config_extra)
    if "agent_thresholds" in setting.systems:
        variant = thresholds_variant(hostlib.read_config(host), f"{recorder.url}/agent-thresholds")
        hostlib.start_second_agent(host, variant)
    stack = None
    if "prometheus" in setting.systems:
        host.wait_http("http://127.0.0.1:9100/metrics")
        stack = monitors.PrometheusStack(
            host.workdir, f"{host.address}:9100", f"{recorder.url}/alertmanager", TIME_SCALE
        )
        recorder_stack.append(stack)
        stack.start()
    recorder_stack.append(monitors.OnsetPoller(lambda: fetch_alerts(host, setting, stack)))
    log("everything is up")
    return config_extra


AGENT_PORTS = {"agent": 9877, "agent_thresholds": 9878}


def fetch_alerts(
    host: hostlib.Host, setting: Setting, stack: monitors.PrometheusStack | None
) -> dict[str, list[dict[str, Any]]]:
    """Each system's pending and firing alerts (one podman exec for both agents)."""
    systems = [system for system in AGENT_PORTS if system in setting.systems]
    script = "; echo; ".join(
        f"curl -s -m 2 http://127.0.0.1:{AGENT_PORTS[system]}/api/v1/alerts" for system in systems
    )
    output = host.shell(script, timeout=10)
    documents = [line for line in output.splitlines() if line.strip()]
    found = {
        system: json.loads(document)["data"]["alerts"]
        for system, document in zip(systems, documents)
    }
    if stack is not None:
        found["prometheus"] = stack.alerts()
    return found


def report(
    setting: Setting,
    argv: list[str],
    out: Path,
    *,
    records: list[dict[str, Any]],
    timeline: dict[str, Any],
    config_extra: dict[str, Any],
    commit: str,
) -> None:
    result = score.score(records, timeline, setting.systems)
    meta = {
        "command": "make -C bench faults"
        + (f" SETTING={setting.name}" if setting.name != "full" else "")
        + (f" (python bench/faults/run.py {shlex.join(argv)})" if argv else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "setting": setting.name,
        "agent_version": agent_version,
        "commit": commit,
        "machine": machine(),
        "time_scale": TIME_SCALE,
        "interval": INTERVAL,
        "hold": setting.hold,
        "ramp": setting.ramp,
        "recovery": setting.recovery,
        "baseline": setting.baseline,
        "faults": list(setting.faults),
        "systems": list(setting.systems),
        "agent_config_extra": config_extra,
    }
    if setting.swap_bytes:
        meta["swap_file_mib"] = setting.swap_bytes >> 20
    out.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "timeline": timeline, "result": result, "notifications": records}
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / "RESULTS.md").write_text(score.render(result, meta))
    log(f"results: {out / 'RESULTS.md'}")
    for system, stats in result["systems"].items():
        log(
            f"{system}: detected {stats['detected']}/{stats['faults']}, false notifications "
            f"{stats['false_notifications']}, all resolved {stats['all_resolved']}"
        )


def rescore(path: Path) -> int:
    """Score a saved results.json again (after a change to the scoring or the report)."""
    document = json.loads(path.read_text())
    meta, timeline, records = document["meta"], document["timeline"], document["notifications"]
    document["result"] = score.score(records, timeline, tuple(meta["systems"]))
    path.write_text(json.dumps(document, indent=1) + "\n")
    (path.parent / "RESULTS.md").write_text(score.render(document["result"], meta))
    log(f"rescored: {path.parent / 'RESULTS.md'}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--rescore"] and len(argv) == 2:
        return rescore(Path(argv[1]))
    setting, out = parse(argv)
    if setting.swap_bytes:
        try:  # before anything is created; SwapFile.add checks again
            swap.refuse_foreign(swap.read_swaps())
        except swap.SwapError as error:
            print(f"run.py: --swap-file: {error}", file=sys.stderr)
            return 2
    # Stopped by SIGTERM or SIGINT (even when started with nohup, which ignores SIGINT), the run
    # still removes its container, mounts, cgroups and Prometheus: the `finally` below runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    run_id = secrets.token_hex(3)
    workdir = Path.home() / ".cache" / "aiops-agent" / "faults" / run_id
    workdir.mkdir(parents=True)
    log(f"run {run_id}, setting {setting.name}, work directory {workdir}")
    hostlib.ensure_tools()
    # The checkout deployed, taken now: the tree may move on during a 45-minute run.
    dirty = "+dirty" if git("status", "--porcelain") else ""
    commit = git("rev-parse", "--short", "HEAD") + dirty
    swap_file = None
    if setting.swap_bytes:
        swap_file = swap.SwapFile(swap.SWAP_DIR / f"aiops-faults-{run_id}.swap", setting.swap_bytes)
    host = hostlib.Host(run_id, workdir, setting.swap_bytes)
    watchers: list[Any] = []  # the recorder, then Prometheus if any: closed in reverse
    try:
        if swap_file is not None:
            swap_file.add()
            log(f"added swap file {swap_file.path} ({setting.swap_bytes >> 20} MiB) to the machine")
        config_extra = bring_up(setting, host, watchers)
        timeline = run_timeline(setting, host)
        records = watchers[0].snapshot()
        for watcher in watchers:
            if isinstance(watcher, monitors.PrometheusStack):
                add_evidence(watcher, timeline)
            if isinstance(watcher, monitors.OnsetPoller):
                watcher.close()
                timeline["onsets"] = watcher.onsets()
                timeline["onset_poll_errors"] = [watcher.errors, watcher.last_error]
    finally:
        for watcher in reversed(watchers):
            watcher.close()
        host.close()
        if swap_file is not None:  # after the container: nothing of it is left in swap
            swap_file.remove()
            log(f"removed swap file {swap_file.path}")
    report(
        setting,
        argv,
        out,
        records=records,
        timeline=timeline,
        config_extra=config_extra,
        commit=commit,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
