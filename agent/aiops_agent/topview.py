"""`aiops-agent top`: the top-processes view the alerts carry, in a terminal, read locally with
the agent's own process layer (not through the HTTP API, which may be remote, behind auth, or
down when the engineer needs this most). Two passes `delay` apart give the rates."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from aiops_agent.base.processes import ProcessSummary
from aiops_agent.collectors import new_process_table
from aiops_agent.collectors.host import HostPaths
from aiops_agent.config import Config

CLEAR = "\033[H\033[2J"
_HEADER = f"{'PID':>7} {'USER':<10} {'NAME':<15} {'CPU':>6} {'RSS':>9} {'dRSS':>9} " \
    f"{'READ/s':>9} {'WRITE/s':>9} {'FDS':>5} {'FORKS':>5}"  # fmt: skip
# Columns only the limit rankings carry, before COMMAND.
_LIMIT_HEADERS = {
    "fd_limit": f" {'LIMIT':>7} {'USE':>5}",
    "process_limit": f" {'TASKS':>6} {'LIMIT':>7} {'USE':>5}",
}


def run_top(
    config: Config, sort: str, top: int, delay: float, *, once: bool, out: TextIO = sys.stdout
) -> int:
    table = new_process_table(
        config.processes, config.collectors, HostPaths.under(config.agent.host_root)
    )
    table.scan()
    try:
        while True:
            time.sleep(delay)
            table.scan()
            view = table.view(top, time.time())
            text = render(view.rankings.get(sort, ()), sort, view.processes)
            out.write(text if once else CLEAR + text)
            out.flush()
            if once:
                return 0
    except KeyboardInterrupt:
        return 0


def render(processes: tuple[ProcessSummary, ...], sort: str, seen: int) -> str:
    title = f"aiops-agent top: {seen} processes, top {len(processes)} by {sort}"
    if sort == "process_limit" and processes:
        first = processes[0]
        title += f" (user {first.user or '?'}: {first.user_tasks} tasks of its limit {first.limit})"
    lines = [title, _HEADER + _LIMIT_HEADERS.get(sort, "") + "  COMMAND"]
    for p in processes:
        fds = str(p.open_fds) if p.open_fds >= 0 else "?"
        lines.append(
            f"{p.pid:>7} {p.user[:10]:<10} {p.name[:15]:<15} {p.cpu_ratio * 100:>5.0f}% "
            f"{_size(p.rss_bytes):>9} {_size(p.rss_change_bytes, signed=True):>9} "
            f"{_size(p.read_bytes_per_second):>9} {_size(p.write_bytes_per_second):>9} "
            f"{fds:>5} {p.forks:>5}{_limit_columns(p, sort)}  {p.cmdline or f'[{p.name}]'}"
        )
    return "\n".join(lines) + "\n"


def _limit_columns(p: ProcessSummary, sort: str) -> str:
    """The limit rankings' own columns. USE is what the rule measures: the process's open fds
    of its limit for fd_limit, its user's tasks of the limit for process_limit (the same on
    each line; TASKS tells which process has the most under it)."""
    if sort == "fd_limit":
        return f" {p.limit:>7} {_share(p.open_fds, p.limit):>5}"
    if sort == "process_limit":
        return f" {p.tasks:>6} {p.limit:>7} {_share(p.user_tasks, p.limit):>5}"
    return ""


def _share(used: int, limit: int) -> str:
    return f"{used / limit * 100:.0f}%" if limit > 0 else "?"


def _size(value: float, signed: bool = False) -> str:
    sign = ("+" if value >= 0 else "-") if signed else ""
    value = abs(value)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{sign}{value:.0f}{unit}" if unit == "B" else f"{sign}{value:.1f}{unit}"
        value /= 1024
    return f"{sign}{value:.1f}G"
