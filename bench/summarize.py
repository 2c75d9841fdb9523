"""Write bench/RESULTS.md and the plots in bench/img/ from the JSON in bench/out/. Sections whose
JSON is missing say so; nothing is made up."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import benchlib as bl

IMG = bl.BENCH / "img"
RESULTS = bl.BENCH / "RESULTS.md"


def load(name: str) -> Optional[dict[str, Any]]:
    path = bl.OUT / name
    return json.loads(path.read_text()) if path.exists() else None


def f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def plt() -> Any:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: PLC0415

        return pyplot
    except ImportError:
        return None


COLORS = {
    "aiops-agent": "#1f77b4",
    "aiops-agent-tuned": "#9467bd",
    "node_exporter": "#ff7f0e",
    "glances": "#2ca02c",
}
AGENTS = ("aiops-agent", "aiops-agent-tuned", "node_exporter", "glances")


# --- overhead ---------------------------------------------------------------------------------
def overhead_section(doc: Optional[dict[str, Any]]) -> str:
    if not doc:
        return "## Overhead\n\nNot run (`make -C bench overhead`).\n"
    s = doc["settings"]
    summary = doc["summary"]
    names = [n for n in AGENTS if summary.get(n, {}).get("runs")]
    ratios = doc.get("ratios_vs_node_exporter", {})
    rows_spec = [
        ("start to first good scrape (s)", "start_to_first_good_s", 2),
        ("steady RSS, process tree (MiB)", "rss_mib", 1),
        ("steady PSS, process tree (MiB)", "pss_mib", 1),
        ("CPU, % of one core", "cpu_percent", 3),
        (f"scrape latency p50 (ms), {s['probe_count']} sequential scrapes/run", "scrape_p50_ms", 2),
        ("scrape latency p99 (ms), same", "scrape_p99_ms", 2),
        ("scheduled scrapes p50 (ms)", "scheduled_p50_ms", 2),
        ("scheduled scrapes p99 (ms)", "scheduled_p99_ms", 2),
        (
            f"wrk requests/s ({s['wrk_seconds']} s, {s['wrk_connections']} conns, gzip)",
            "wrk_requests_per_s",
            0,
        ),
        ("wrk latency p99 (ms)", "wrk_p99_ms", 1),
        ("CPU ms per 1000 requests under wrk", "wrk_cpu_ms_per_1000_requests", 0),
    ]
    tuned_ratios = doc.get("tuned_ratios_vs_node_exporter", {})
    header = ["figure", *names, "aiops / node_exporter (median of per-rep ratios, range)"]
    if tuned_ratios:
        header.append("tuned / node_exporter")

    def ratio_text(ratio: Optional[dict[str, float]]) -> str:
        return f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else "-"

    rows = []
    for label, key, digits in rows_spec:
        row = [label, *(f(summary[n][key], digits) for n in names), ratio_text(ratios.get(key))]
        if tuned_ratios:
            row.append(ratio_text(tuned_ratios.get(key)))
        rows.append(row)
    pad = [""] * (2 if tuned_ratios else 1)
    rows.append(
        [
            "processes / threads",
            *(f"{summary[n]['processes']} / {summary[n]['threads']}" for n in names),
            *pad,
        ]
    )
    rows.append(
        ["page size, uncompressed (bytes)", *(f(summary[n]["page_bytes"], 0) for n in names), *pad]
    )
    commits = sorted({r.get("git", "") for r in doc["runs"] if r["agent"] == "aiops-agent"})
    commit_note = (
        f"\n**The agent changed during this run** (commits {', '.join(commits)}): per-run figures "
        "are in overhead.json.\n"
        if len(commits) > 1
        else ""
    )
    targets = doc.get("targets", {})
    tuned = summary.get("aiops-agent-tuned", {})
    node = summary.get("node_exporter", {})

    def tuned_meets(key: str) -> str:
        if not tuned.get("runs") or not node.get("runs"):
            return "-"
        return f(tuned[key] <= node[key])

    target_rows = [
        [
            "RSS ≤ node_exporter's",
            f(targets.get("rss_at_most_node_exporter")),
            tuned_meets("rss_mib"),
        ],
        [
            "CPU ≤ node_exporter's",
            f(targets.get("cpu_at_most_node_exporter")),
            tuned_meets("cpu_percent"),
        ],
        [
            "scrape p99 ≤ node_exporter's",
            f(targets.get("scrape_p99_at_most_node_exporter")),
            tuned_meets("scrape_p99_ms"),
        ],
    ]
    tuned_note = (
        f"\n`aiops-agent-tuned` is the same agent with the suggested changes emulated in-process "
        f"(`bench/variants/agent_variant.py`: {doc.get('tuned_variants')}).\n"
        if tuned.get("runs")
        else ""
    )
    versions = ", ".join(f"{k}: `{v}`" for k, v in doc.get("versions", {}).items())
    dirty = " (work tree with uncommitted agent changes)" if doc["machine"].get("git_dirty") else ""
    m = doc["machine"]
    text = f"""## Overhead

{s["reps"]} repetitions x {s["duration_s"]:g} s per agent, agents one after another in rotating
order, each scraped every {s["scrape_interval_s"]:g} s with Prometheus' request headers (gzip); then
{s["probe_count"]} sequential scrapes {s["probe_gap_s"]:g} s apart, then wrk for
{s["wrk_seconds"]} s.
RSS/PSS: median over the second half of the window of the sums over the process tree
(`/proc/PID/smaps_rollup`); CPU: utime+stime of the tree over the window. aiops-agent runs `run`
with its default configuration (only `http.listen` and `agent.state_dir` set), node_exporter with
its defaults, Glances as `glances -w --disable-webui -t {s["scrape_interval_s"]:g}` scraped on
`/api/4/all`.{" QUICK run: smoke figures only." if doc.get("quick") else ""}
Machine: {m["cpus"]} CPUs ({m["cpu_model"]}), kernel {m["kernel"]},
agent at `{m["git"]}`{dirty}, {m["time"]}.
Versions: {versions}.

{table(header, rows)}
{commit_note}
{tuned_note}
Targets:

{table(["target", "met by aiops-agent", "met by aiops-agent-tuned"], target_rows)}

![overhead](img/overhead.png)

![RSS over the window](img/overhead_rss.png)
"""
    if doc.get("errors"):
        text += (
            "\nErrors during the run: "
            + "; ".join(
                f"{e['agent']} rep {e['rep']}: "
                f"{e.get('error') or 'exit ' + str(e.get('exit_code'))}"
                for e in doc["errors"]
            )
            + "\n"
        )
    return text


def overhead_plots(doc: Optional[dict[str, Any]]) -> None:
    pyplot = plt()
    if not doc or not pyplot:
        return
    summary = doc["summary"]
    names = [n for n in AGENTS if summary.get(n, {}).get("runs")]
    panels = [
        ("RSS (MiB)", "rss_mib"),
        ("PSS (MiB)", "pss_mib"),
        ("CPU (% of a core)", "cpu_percent"),
        ("scrape p50 (ms)", "scrape_p50_ms"),
        ("scrape p99 (ms)", "scrape_p99_ms"),
        ("start to first scrape (s)", "start_to_first_good_s"),
        ("wrk requests/s", "wrk_requests_per_s"),
        ("wrk p99 (ms)", "wrk_p99_ms"),
    ]
    fig, axes = pyplot.subplots(2, 4, figsize=(14, 6))
    for ax, (title, key) in zip(axes.flat, panels):
        values = [summary[n][key] for n in names]
        ax.bar(range(len(names)), values, color=[COLORS[n] for n in names])
        ax.set_xticks(
            range(len(names)),
            [n.replace("_", "_\n").replace("-agent-", "-agent-\n") for n in names],
            fontsize=7,
        )
        ax.set_title(title, fontsize=10)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    fig.suptitle("Overhead on this machine (lower is better, except requests/s)")
    fig.tight_layout()
    IMG.mkdir(exist_ok=True)
    fig.savefig(IMG / "overhead.png", dpi=80)
    pyplot.close(fig)

    fig, ax = pyplot.subplots(figsize=(8, 4))
    for run in doc["runs"]:
        samples = run.get("memory_samples") or []
        if not samples:
            continue
        ax.plot(
            [x["t"] for x in samples],
            [x["rss_kib"] / 1024 for x in samples],
            color=COLORS[run["agent"]],
            alpha=0.8,
            label=run["agent"] if run["rep"] == 0 else None,
        )
    ax.set_xlabel("seconds since first good scrape")
    ax.set_ylabel("RSS of the process tree (MiB)")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(IMG / "overhead_rss.png", dpi=80)
    pyplot.close(fig)


# --- growth -----------------------------------------------------------------------------------
def growth_host_section(doc: Optional[dict[str, Any]]) -> str:
    if not doc:
        return "### Host size\n\nNot run (`make -C bench growth-host`).\n"
    st = doc["settings"]
    rows = []
    verdicts = []
    for name, s in doc["summary"].items():
        for p in s["points"]:
            rows.append([name, p["count"], p["series"], f(p["cpu_ms"], 2), f(p["rss_mib"], 1)])
        slope = s.get("loglog_slope_cpu_added")
        verdicts.append(
            [
                name,
                f(s["cpu_ms_per_added_unit"], 3),
                f(s["rss_kib_per_added_unit"], 1),
                f(slope, 2),
                s["verdict_cpu"],
                f(s["loglog_slope_rss_total"], 2),
                s["verdict_rss"],
            ]
        )
    collector_text = ""
    agent = doc["summary"].get("aiops-agent")
    if agent and agent["points"] and agent["points"][-1].get("collector_ms"):
        last = agent["points"][-1]
        first = agent["points"][0]
        collector_text = (
            f"aiops-agent per collector at N={first['count']} -> N={last['count']} (ms, wall): "
            + ", ".join(
                f"{c} {f(first['collector_ms'].get(c), 2)} -> {f(ms, 2)}"
                for c, ms in list(last["collector_ms"].items())[:6]
            )
            + "."
        )
    return f"""### Host size: mount points and network interfaces

N tmpfs mounts and N {st.get("interface_kind") or "dummy"} interfaces added inside a private mount
and network namespace made by the benchmark (host untouched); {st["reps"]} repetitions of
{st["window_s"]:g} s windows. aiops-agent collects every {st["agent_interval_s"]} s: CPU per
collection = CPU of the process / collections in the window (render and plugins included).
node_exporter, for reference, collects per scrape: CPU per scrape at one scrape a second.

{table(["agent", "N", "series exposed", "CPU ms per collection", "RSS MiB"], rows)}

{
        table(
            [
                "agent",
                "CPU ms per added mount+interface",
                "RSS KiB per added unit",
                "log-log slope of added CPU",
                "CPU growth",
                "log-log slope of RSS",
                "RSS growth",
            ],
            verdicts,
        )
    }

{collector_text}

The log-log slope of the added cost (cost at N minus cost at N=1, against N-1) gives the order of
growth: 1 is linear, below 1 better than linear.

![host growth](img/growth_host.png)
"""


def growth_baseline_section(doc: Optional[dict[str, Any]]) -> str:
    if not doc:
        return "### Learned baselines\n\nNot run (`make -C bench growth-baselines`).\n"
    s = doc["summary"]
    rows = [
        [
            p["series"],
            f(p["update_us"], 2),
            f(p["round_ms"], 1),
            f(p["tracemalloc_bytes_per_series"], 0),
            f(p["rss_bytes_per_series"], 0),
        ]
        for p in s["points"]
    ]
    return f"""### Learned baselines: PatternDetector with 1k-100k series

The agent's detector (`detection/pattern.py:PatternDetector`) driven directly, one dict entry per
series keyed by (name, labels), each a deep copy of one that learned 10 days of a daily pattern
(its pattern memory full), each size in a fresh interpreter; update cost measured in CPU time
(median of
{doc["settings"]["timed_rounds"]} rounds over all series; the loop itself costs about
{f(s["points"][0]["loop_overhead_us"], 2)} µs per item of that). Memory: tracemalloc of the
detectors and the dict; RSS growth of the process (includes allocator slack).

{
        table(
            [
                "series",
                "µs per update",
                "ms per round of all series",
                "bytes/series (tracemalloc)",
                "bytes/series (RSS)",
            ],
            rows,
        )
    }

Log-log slope of time per round against series: {f(s["loglog_slope_time_per_round"], 3)}
({s["verdict_time"]}); of total memory: {f(s["loglog_slope_memory_total"], 3)}
({s["verdict_memory"]}).

![baseline growth](img/growth_baselines.png)
"""


def growth_plots(host: Optional[dict[str, Any]], base: Optional[dict[str, Any]]) -> None:
    pyplot = plt()
    if not pyplot:
        return
    IMG.mkdir(exist_ok=True)
    if host:
        fig, (a1, a2) = pyplot.subplots(1, 2, figsize=(11, 4))
        for name, s in host["summary"].items():
            xs = [p["count"] for p in s["points"]]
            a1.loglog(xs, [p["cpu_ms"] for p in s["points"]], "o-", color=COLORS[name], label=name)
            a2.semilogx(
                xs, [p["rss_mib"] for p in s["points"]], "o-", color=COLORS[name], label=name
            )
        a1.set_xlabel("added mount points and interfaces (each)")
        a1.set_ylabel("CPU ms per collection / scrape")
        a2.set_xlabel("added mount points and interfaces (each)")
        a2.set_ylabel("RSS (MiB)")
        a2.set_ylim(bottom=0)
        for ax in (a1, a2):
            ax.grid(alpha=0.3, which="both")
            ax.legend()
        fig.tight_layout()
        fig.savefig(IMG / "growth_host.png", dpi=80)
        pyplot.close(fig)
    if base:
        points = base["summary"]["points"]
        xs = [p["series"] for p in points]
        fig, (a1, a2) = pyplot.subplots(1, 2, figsize=(11, 4))
        a1.loglog(xs, [p["round_ms"] for p in points], "o-", label="ms per round of all series")
        a1.set_xlabel("series")
        a1.set_ylabel("CPU ms per round")
        a2.semilogx(
            xs, [p["tracemalloc_bytes_per_series"] for p in points], "o-", label="tracemalloc"
        )
        a2.semilogx(xs, [p["rss_bytes_per_series"] for p in points], "s-", label="RSS")
        a2.set_xlabel("series")
        a2.set_ylabel("bytes per series")
        a2.set_ylim(bottom=0)
        for ax in (a1, a2):
            ax.grid(alpha=0.3, which="both")
            ax.legend()
        fig.tight_layout()
        fig.savefig(IMG / "growth_baselines.png", dpi=80)
        pyplot.close(fig)


# --- fleet ------------------------------------------------------------------------------------
def fleet_section(doc: Optional[dict[str, Any]]) -> str:
    if not doc:
        return "## Fleet\n\nNot run (`make -C bench fleet`).\n"
    if doc.get("status") != "ok" or not doc.get("points"):
        return f"## Fleet\n\nNot measured: {doc.get('reason', doc.get('status'))}\n"

    def med(values: list[Optional[float]]) -> Optional[float]:
        present = [v for v in values if v is not None]
        return bl.median(present) if present else None

    def seconds(point: dict[str, Any], role: str, key: str) -> Optional[float]:
        run = point.get(role)
        if not run:
            return None
        return float(run["first"]["s"] if key == "first" else run["rerun_s"])

    rows = []
    slow = []
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for point in doc["points"]:
        groups.setdefault((point["transport"], point["hosts"]), []).append(point)
    for (transport, hosts), points in groups.items():
        cells: dict[str, Optional[float]] = {}
        for role in ("node_exporter", "aiops"):
            for key in ("first", "rerun"):
                cells[f"{role}_{key}"] = med([seconds(p, role, key) for p in points])
        ratios = {
            key: med(
                [
                    a / b
                    for p in points
                    if (a := seconds(p, "aiops", key)) and (b := seconds(p, "node_exporter", key))
                ]
            )
            for key in ("first", "rerun")
        }
        rolling = med([p["aiops_rolling"]["rerun_s"] for p in points])
        changed = sum(r["changed"] for p in points for r in p["aiops"]["reruns"])
        changed += sum(r["changed"] for p in points for r in p["aiops_rolling"]["reruns"])
        ne = cells["node_exporter_first"]
        rows.append(
            [
                transport,
                hosts,
                f(med([p["ping_s"] for p in points]), 1),
                f"{f(ne, 1)} / {f(cells['node_exporter_rerun'], 1)}" if ne else "absent",
                f"{f(cells['aiops_first'], 1)} / {f(cells['aiops_rerun'], 1)}",
                f(rolling, 1),
                f"{f(ratios['first'], 2)} / {f(ratios['rerun'], 2)}" if ne else "-",
                f((cells["aiops_rerun"] or 0) / hosts, 2),
                changed,
                len(points),
            ]
        )
        last = points[-1]["aiops"]["reruns"][-1].get("slowest") or []
        if last:
            slow.append(
                f"- {transport}, {hosts} host(s): "
                + "; ".join(f"{t['task'].split(' : ')[-1]} {t['s']:.2f} s" for t in last[:4])
            )
    slowest = "\n".join(slow)
    return f"""## Fleet: playbooks/site.yml against node_exporter's role

`bench/fleet.py`: systemd containers (Debian 12) with sshd, fresh for each repetition; over SSH
(pipelining, ControlPersist) and over the podman connection; the repository's ansible.cfg (forks
10, fact subset min) for both plays. node_exporter: prometheus-community's
`prometheus.prometheus.node_exporter` role ({doc.get("node_exporter", "?")}), installing Debian's
node_exporter 1.5.0 binary served on loopback. aiops: `playbooks/site.yml`, one batch
(`aiops_fleet_serial=100%`), then re-runs with the default rolling batches (30%). Wall time of
`ansible-playbook`, start-up included; re-run: median of {doc.get("rerun_reps", "?")}; each cell
the median over the repetitions, ratios the median of per-repetition ratios (aiops / node_exporter;
the two roles run in alternating order). Machine shared with other jobs: read ratios, not seconds.

{
        table(
            [
                "transport",
                "hosts",
                "ping s",
                "node_exporter first / re-run s",
                "aiops first / re-run s",
                "aiops re-run, rolling s",
                "ratio first / re-run",
                "aiops re-run s per host",
                "changed in aiops re-runs",
                "repetitions",
            ],
            rows,
        )
    }

Slowest tasks of the last aiops re-run (profile_tasks):

{slowest}
{doc.get("note", "")}
"""


def fleet_plot(doc: Optional[dict[str, Any]]) -> None:
    """No plot: the table carries the figures."""
    del doc


# --- nab --------------------------------------------------------------------------------------
def nab_section() -> str:
    path = bl.BENCH / "nab" / "RESULTS.md"
    if not path.exists():
        return "## Detection quality (NAB)\n\nNot run (`make -C bench nab`).\n"
    text = path.read_text()
    match = re.search(r"(\| detector \|.*?)\n\n", text, re.S)
    if not match:
        return "## Detection quality (NAB)\n\nSee [nab/RESULTS.md](nab/RESULTS.md).\n"
    return f"""## Detection quality (NAB)

From [nab/RESULTS.md](nab/RESULTS.md) (`make -C bench nab`): NAB dev split, thresholds optimised
in-sample as NAB does; the other rows are NAB's published detectors.

{match.group(1)}
"""


# --- profile ----------------------------------------------------------------------------------
def profile_section(doc: Optional[dict[str, Any]]) -> str:
    if not doc:
        return "## Profile\n\nNot run (`make -C bench profile`).\n"
    imp, rss, col = doc["imports"], doc["import_rss"], doc["collection"]
    parts = ["## Profile: what dominates\n"]
    parts.append(
        "**Start-up.** Imports of a real `aiops-agent run` take "
        f"{f(imp['import_total_ms_median'], 0)}"
        f" ms (median of {imp['runs']}, `-X importtime`, {imp['modules_loaded']} modules); first "
        f"good scrape after {f(imp['start_to_first_good_s_median'], 2)} s. RSS: bare interpreter "
        f"{rss['bare_python_kib'] / 1024:.1f} MiB, +yaml {rss['yaml_kib'] / 1024:.1f}"
        f" MiB, the agent's modules with collectors and plugins built "
        f"{rss['agent_modules_and_plugins_kib'] / 1024:.1f} MiB. ssl+hashlib+hmac together cost "
        f"{rss.get('ssl_hashlib_hmac_together_kib', 0) / 1024:.1f} MiB.\n"
    )
    parts.append(
        table(
            ["module (largest own import time)", "own ms", "cumulative ms", "first imported by"],
            [
                [e["module"], f(e["self_ms"], 1), f(e["cumulative_ms"], 1), e["imported_by"] or "-"]
                for e in imp["top_self_ms"][:10]
            ],
        )
    )
    parts.append("")
    importers = imp.get("first_importer", {})
    savings = rss.get("lazy_import_savings") or []
    if savings:
        parts.append(
            "\nWhat each module the agent imports costs, measured by removal: RSS of importing "
            "every non-agent module the agent loads ("
            f"{savings[0]['all_non_agent_modules_kib'] / 1024:.1f} MiB) minus the same without "
            "that module's import subtree (what other modules still need is imported anyway); "
            "i.e. the saving if it were imported only where used. Modules with no agent importer "
            "were imported lazily by the standard library at run time.\n"
        )
        parts.append(
            table(
                ["module", "saves KiB", "modules in its subtree", "first imported by"],
                [
                    [
                        e["module"],
                        e["saves_kib"],
                        e["subtree"],
                        importers.get(e["module"].split(".")[0]) or "-",
                    ]
                    for e in savings[1:13]
                ],
            )
        )
        parts.append("")
    if "error" in col:
        parts.append(f"\nCollection profile failed: {col['error'][:500]}\n")
    else:
        parts.append(
            f"\n**Collection** (in-process, default config, {col['cycles']} cycles; plugins: "
            f"{', '.join(col['plugins']) or 'none'}): {f(col['cycle_ms_median'], 2)} ms per cycle "
            f"(p90 {f(col['cycle_ms_p90'], 2)}), of which rendering the page "
            f"{f(col['render_ms_median'], 2)} ms; {col['series']} series, "
            f"{col['page_bytes']} bytes."
            f" Allocation peak per cycle {f(col['alloc_peak_kib_per_cycle'], 0)} KiB; net growth "
            f"over 10 cycles after warm-up {f(col['net_growth_kib_over_10_cycles'], 0)} KiB.\n"
        )
        parts.append(
            table(
                ["collector", "ms per collection (median)"],
                [[n, f(v, 3)] for n, v in list(col["collectors_ms_median"].items())[:10]],
            )
        )
        parts.append("")
        parts.append(
            table(
                ["function (cProfile, by own time)", "calls/cycle", "own ms/cycle", "share"],
                [
                    [
                        f"`{e['function']}`",
                        f(e["calls_per_cycle"], 0),
                        f(e["own_ms_per_cycle"], 2),
                        f"{100 * e['own_share']:.0f}%",
                    ]
                    for e in col["cprofile_top_own_time"][:12]
                ],
            )
        )
        curve = col.get("memory_curve") or []
        if curve:
            parts.append(
                "\nMemory over many cycles (in-process): "
                + ", ".join(
                    f"{c['cycles']} cycles {c['rss_kib'] / 1024:.1f} MiB / "
                    f"{c['gc_objects']} objects"
                    for c in curve
                )
                + ".\n"
            )
    for idle in doc.get("idle_cpu", []):
        parts.append(
            f"**Idle cost** (`{idle['variant']}`: no collection, no scrape, {idle['seconds']} s): "
            f"{f(idle['cpu_percent'], 4)} % of a core, {f(idle['wakeups_per_s'], 1)} wake-ups/s.\n"
        )
    reads = doc.get("repeated_reads", {})
    if reads and "error" not in reads:
        parts.append(
            f"**Reads per collection** (strace, interval 1 s, {reads['collections']:.0f} "
            f"collections): {reads['syscalls_per_collection']}; /proc/PID files opened "
            f"{reads['proc_pid_opens_per_collection']} times per collection; paths opened more "
            f"than once per collection: {reads['paths_more_than_once_per_collection'] or 'none'}.\n"
        )
    spy = doc.get("pyspy", {})
    for phase, title in (
        ("collection", "py-spy, idle agent collecting every second"),
        ("scrape_load", "py-spy, under wrk on /metrics"),
    ):
        p = spy.get(phase)
        if not p or "error" in p:
            continue
        parts.append(
            table(
                [f"{title}: frame (own samples)", "share of busy samples"],
                [[f"`{e['frame']}`", f"{100 * e['share_of_busy']:.0f}%"] for e in p["top_own"][:8]],
            )
        )
        parts.append("")
    return "\n".join(parts) + "\n"


# --- variants (before/after) ---
def variants_section(doc: Optional[dict[str, Any]]) -> str:
    if not doc:
        return "## Before / after\n\nNot run (`make -C bench variants`).\n"
    summary = doc["summary"]
    base = summary.get("unchanged", {})
    rows = []
    for name, s in summary.items():
        d = s.get("delta_vs_unchanged", {})
        rows.append(
            [
                f"`{name}`",
                s["emulates"],
                f(s["start_s"], 2),
                f(s["rss_mib"], 1),
                f(d.get("rss_mib"), 1) if name != "unchanged" else "",
                f(s["pss_mib"], 1),
                f(d.get("pss_mib"), 1) if name != "unchanged" else "",
                f(s["cpu_ms_per_collection"], 2),
                f(s["wrk_requests_per_s"], 0),
                f(s["wrk_p50_ms"], 2),
                f(s["wrk_p99_ms"], 1),
            ]
        )
    st = doc["settings"]
    return f"""## Before / after: emulated agent changes

Each row runs the real agent through `bench/variants/agent_variant.py`, which applies the change
in-process (or a config change), next to the unchanged agent through the same wrapper;
{st["reps"]} interleaved repetitions, medians; interval {st["interval_s"]} s, RSS/PSS after a
{st["window_s"]:g} s window, then wrk (gzip, 4 connections) on /metrics.{
        " Unchanged agent: " + f(base.get("rss_mib"), 1) + " MiB RSS." if base else ""
    }

{
        table(
            [
                "variant",
                "emulates",
                "start s",
                "RSS MiB",
                "dRSS",
                "PSS MiB",
                "dPSS",
                "CPU ms/collection",
                "wrk req/s",
                "wrk p50 ms",
                "wrk p99 ms",
            ],
            rows,
        )
    }
"""


def only(section: str) -> int:
    """Rewrite one section of RESULTS.md alone, after its benchmark ran on its own (`make -C
    bench fleet`, `nab`, `overhead` or `growth-baselines`): the other sections' JSON may not
    be on this machine."""
    text = RESULTS.read_text()
    if section == "fleet":
        heading, level, new = "## Fleet", "\n## ", fleet_section(load("fleet.json"))
    elif section == "overhead":
        doc = load("overhead.json")
        overhead_plots(doc)
        heading, level, new = "## Overhead", "\n## ", overhead_section(doc)
    elif section == "nab":
        heading, level, new = "## Detection quality (NAB)", "\n## ", nab_section()
    else:
        base = load("growth_baseline.json")
        growth_plots(None, base)
        heading, level, new = "### Learned baselines", "\n##", growth_baseline_section(base)
    start = text.index(heading)
    end = text.index(level, start + 1) + 1
    RESULTS.write_text(text[:start] + new + "\n" + text[end:])
    bl.log(f"wrote the {section} section of {RESULTS}")
    return 0


def processes_section(doc: Optional[dict[str, Any]]) -> str:
    head = "## Process layer: top view and process groups vs process-exporter\n"
    if not doc:
        return head + "\nNot run (`make -C bench processes`).\n"
    results = doc["results"]
    lines = [
        head,
        f"`bench/processes.py`: extra sleeping processes spawned, then each setting alone for "
        f"{doc['window']:g} s, collecting every {doc['interval']:g} s (process-exporter collects "
        "when scraped, scraped as often). CPU per collection = utime+stime over the window / "
        "collections; the process table's pass is the agent's own wall-clock duration of it "
        "(median; a noisy machine inflates it); RSS at the end. Groups: every process with a "
        "command line, by command name, for both (process-exporter with -threads=false "
        "-gather-smaps=false -children=false). The machine's own ~150 processes come on top of "
        "the sleepers. Ratios: x agent = to the agent without the process layer; x "
        "process-exporter = to process-exporter at the same count.\n",
        "| processes | setting | CPU ms per collection | x agent | x process-exporter | "
        "process table pass ms | RSS MiB | x agent | x process-exporter | groups |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for count in sorted({r["processes_spawned"] for r in results}):
        rows = {r["setting"]: r for r in results if r["processes_spawned"] == count}
        base, other = rows.get("agent"), rows.get("process-exporter")

        def ratio(row: dict[str, Any], against: Optional[dict[str, Any]], key: str) -> str:
            return f(row[key] / against[key]) if against and against[key] else ""

        for setting, row in rows.items():
            pass_ms = row["process_table_seconds"] * 1000
            lines.append(
                f"| {count} | {setting} | {f(row['cpu_seconds_per_collection'] * 1000, 1)} | "
                f"{ratio(row, base, 'cpu_seconds_per_collection')} | "
                f"{ratio(row, other, 'cpu_seconds_per_collection')} | "
                f"{'' if math.isnan(pass_ms) else f(pass_ms, 1)} | {f(row['rss_mib'], 1)} | "
                f"{ratio(row, base, 'rss_mib')} | {ratio(row, other, 'rss_mib')} | "
                f"{row['groups']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    sections = (["fleet"], ["baselines"], ["nab"], ["overhead"])
    if sys.argv[1:2] == ["--only"] and sys.argv[2:] in sections:
        return only(sys.argv[2])
    overhead = load("overhead.json")
    host = load("growth_host.json")
    base = load("growth_baseline.json")
    fleet = load("fleet.json")
    prof = load("profile.json")
    overhead_plots(overhead)
    growth_plots(host, base)
    fleet_plot(fleet)
    quick = any(d and d.get("quick") for d in (overhead, host, base, prof))
    text = "\n".join(
        [
            "# Benchmarks\n",
            "Generated by `make -C bench all` (`bench/summarize.py` from `bench/out/*.json`); "
            "everything runs on this machine, on loopback and in namespaces the benchmarks make. "
            "The machine is shared and noisy: figures are medians of interleaved repetitions, and "
            "ratios are taken per repetition."
            + (" **QUICK smoke run: not for decisions.**" if quick else "")
            + "\n",
            overhead_section(overhead),
            "## Cost growth\n",
            growth_host_section(host),
            growth_baseline_section(base),
            fleet_section(fleet),
            processes_section(load("processes.json")),
            nab_section(),
            profile_section(prof),
            variants_section(load("variants.json")),
        ]
    )
    RESULTS.write_text(text)
    bl.log(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
