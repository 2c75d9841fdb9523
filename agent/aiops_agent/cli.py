"""The `aiops-agent` command."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Optional, Union

from aiops_agent import __version__
from aiops_agent.base.processes import RANKINGS
from aiops_agent.config import Config, ConfigError, load_config
from aiops_agent.config.errors import Notice
from aiops_agent.config.loader import DEFAULT_CONFIG_PATH

if TYPE_CHECKING:
    import argparse

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "text")
# The service's command line, `run` and its options, is parsed without argparse: argparse and what
# it loads (gettext; shutil, which loads bz2 and lzma) would stay in the running agent's memory for
# nothing (about 1 MiB). Any other command line, a mistake or --help included, goes to argparse.
_RUN_OPTIONS: dict[str, tuple[str, ...]] = {
    "--config": (),
    "--log-level": LOG_LEVELS,
    "--log-format": LOG_FORMATS,
}


def _parse_run(argv: Sequence[str]) -> Optional[SimpleNamespace]:
    """The arguments of `run` as argparse would give them, or None for anything but `run` with
    valid options (each `--name value` or `--name=value`, the last of a repeated one winning).
    When in doubt it answers None: argparse then decides, and words any error."""
    if not argv or argv[0] != "run":
        return None
    values: dict[str, Optional[str]] = {"config": None, "log_level": None, "log_format": None}
    rest = iter(argv[1:])
    for word in rest:
        option, equals, value = word.partition("=")
        if option not in _RUN_OPTIONS:
            return None
        if not equals:
            value = next(rest, "")
        choices = _RUN_OPTIONS[option]
        # argparse reads a value starting with "-" as an option, or as a negative number
        if not value or value.startswith("-") or (choices and value not in choices):
            return None
        values[option[2:].replace("-", "_")] = value
    return SimpleNamespace(command="run", **values)


def _parser() -> argparse.ArgumentParser:
    import argparse  # noqa: PLC0415 - not on the service's path (see _RUN_OPTIONS)

    parser = argparse.ArgumentParser(
        prog="aiops-agent",
        description="Host-monitoring agent: node_exporter-compatible metrics, anomaly detection "
        "and alerting at the edge.",
    )
    parser.add_argument("--version", action="version", version=f"aiops-agent {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help=f"YAML configuration file (default {DEFAULT_CONFIG_PATH}; defaults apply if absent)",
    )
    common.add_argument("--log-level", choices=LOG_LEVELS, help="overrides log.level")
    common.add_argument("--log-format", choices=LOG_FORMATS, help="overrides log.format")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run", parents=[common], help="run the agent in the foreground (the service)"
    )
    check = commands.add_parser(
        "check-config",
        parents=[common],
        help="validate the configuration: exit 0 when valid, else print the errors",
    )
    check.add_argument(
        "--no-resolve-secrets",
        action="store_true",
        help="check ${ENV} and file:PATH secrets for form only, and read no file the config "
        "names (secrets, http.web_config_file): for a config that runs elsewhere, e.g. in a pod",
    )
    check.add_argument(
        "--print-endpoints",
        action="store_true",
        help="print the receivers' endpoints as JSON on stdout: receiver, type, host, port, cidr "
        "(for an IP literal), unresolved (a URL that is an unresolved secret); never a path or "
        "query",
    )
    collect = commands.add_parser(
        "collect", parents=[common], help="collect one snapshot to stdout"
    )
    collect.add_argument("--once", action="store_true", help="collect once and exit (the default)")
    collect.add_argument("--format", choices=("prometheus", "json"), default="prometheus")
    top = commands.add_parser(
        "top",
        parents=[common],
        help="the top processes, as alerts carry them, read on this host (not via the API)",
    )
    top.add_argument("--once", action="store_true", help="print one view and exit")
    top.add_argument(
        "--sort",
        choices=RANKINGS,
        default="cpu",
        help="ranking (default cpu); fd_limit: open fds against the process's own soft "
        "RLIMIT_NOFILE (processes with 32 fds or more); process_limit: the processes of the "
        "non-root user nearest its RLIMIT_NPROC, most tasks under them first",
    )
    top.add_argument("-n", "--top", type=int, help="processes shown (default processes.top)")
    top.add_argument("--delay", type=float, default=2.0, help="seconds between passes (default 2)")
    commands.add_parser(
        "example-config", help="print the annotated example configuration (every key, default)"
    )
    health = commands.add_parser(
        "check-health", parents=[common], help="exit 0 if the running agent's /healthz answers 200"
    )
    health.add_argument("--url", help="health URL (default: from http.listen in the config)")
    health.add_argument("--timeout", type=float, default=3.0)
    return parser


def _load(
    args: Union[argparse.Namespace, SimpleNamespace], notices: list[Notice]
) -> tuple[Config, bool]:
    """The config, and whether its web config turns TLS on (False when not read: offline)."""
    from aiops_agent.webconfig import load_security  # noqa: PLC0415

    offline = getattr(args, "no_resolve_secrets", False)
    config = load_config(
        args.config,
        required=args.config is not None,
        notices=notices,
        resolve_secrets=not offline,
    )
    if offline:
        return config, False
    # Validates http.web_config_file and what it names.
    return config, load_security(config, args.config).tls


def _print_notices(notices: list[Notice]) -> None:
    for notice in notices:
        level = "warning: " if notice.level == "warning" else ""
        print(f"aiops-agent: {level}{notice.message}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = _parse_run(words) or _parser().parse_args(words)
    if args.command is None:
        _parser().print_help(sys.stderr)
        return EXIT_CONFIG
    if args.command == "example-config":
        from aiops_agent.config.example import render_example  # noqa: PLC0415

        sys.stdout.write(render_example())
        return EXIT_OK
    notices: list[Notice] = []
    try:
        config, tls = _load(args, notices)
    except ConfigError as error:
        _print_notices(notices)  # logging is not set up yet: it needs a valid configuration
        where = args.config or DEFAULT_CONFIG_PATH
        print(f"aiops-agent: invalid configuration ({where}):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        _print_notices(notices)
        if args.print_endpoints:
            from aiops_agent.config.endpoints import receiver_endpoints  # noqa: PLC0415

            json.dump(receiver_endpoints(config), sys.stdout)
            sys.stdout.write("\n")
        print(f"configuration OK ({args.config or DEFAULT_CONFIG_PATH})", file=sys.stderr)
        return EXIT_OK
    from aiops_agent.base import logs  # noqa: PLC0415

    logs.configure(args.log_level or config.log.level, args.log_format or config.log.format)
    if args.command == "check-health":  # a probe, run every few seconds: its verdict only
        return _check_health(config, tls, args.url, args.timeout)
    for notice in notices:
        level = logging.WARNING if notice.level == "warning" else logging.INFO
        logging.getLogger("aiops_agent").log(level, notice.message)
    if args.command == "collect":
        return _collect(config, args.format)
    if args.command == "top":
        from aiops_agent.topview import run_top  # noqa: PLC0415

        if args.delay <= 0 or (args.top is not None and args.top < 1):
            print("aiops-agent top: --delay and --top must be positive", file=sys.stderr)
            return EXIT_CONFIG
        return run_top(
            config, args.sort, args.top or config.processes.top, args.delay, once=args.once
        )
    return _run(config, args.config, (args.log_level, args.log_format))


def _run(
    config: Config, config_path: Optional[str], log_overrides: tuple[Optional[str], Optional[str]]
) -> int:
    from aiops_agent.agent import Agent  # noqa: PLC0415

    try:
        agent = Agent(config, config_path, log_overrides=log_overrides)
    except ConfigError as error:  # the web config file changed since it was checked
        logging.getLogger("aiops_agent").error("cannot start", extra={"errors": str(error)})
        return EXIT_CONFIG
    except OSError as error:
        logging.getLogger("aiops_agent").error(
            "cannot start", extra={"error": str(error), "listen": config.http.listen}
        )
        return EXIT_FAILURE
    code = agent.run()
    # Exit now, without waiting for threads: a worker stuck in a syscall (statvfs on a dead network
    # mount, a receiver that never answers) must not turn a clean stop into a hang. Everything that
    # must survive has been flushed by agent.run().
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


def _collect(config: Config, output_format: str) -> int:
    from aiops_agent.base.logs import RateLimitedLog  # noqa: PLC0415
    from aiops_agent.collectors import CollectorStats, build_collectors, collect_once  # noqa: PLC0415
    from aiops_agent.collectors.host import HostPaths  # noqa: PLC0415
    from aiops_agent.exposition import render  # noqa: PLC0415

    collectors = build_collectors(config.collectors, HostPaths.under(config.agent.host_root))
    stats: dict[str, CollectorStats] = {}
    families = collect_once(
        collectors,
        stats,
        RateLimitedLog(logging.getLogger("aiops_agent")),
        config.metrics.node_exporter_names,
    )
    if output_format == "prometheus":
        sys.stdout.write(render(families))
    else:
        document = [
            {
                "name": f.name,
                "type": f.kind,
                "help": f.help,
                "samples": [{"labels": dict(s.labels), "value": s.value} for s in f.samples],
            }
            for f in families
            if f.samples
        ]
        json.dump(document, sys.stdout, indent=1)
        sys.stdout.write("\n")
    failed = [name for name, entry in stats.items() if not entry.success]
    return EXIT_FAILURE if failed else EXIT_OK


def _check_health(config: Config, tls: bool, url: Optional[str], timeout: float) -> int:
    import urllib.request  # noqa: PLC0415

    context = None
    if url is None:
        url = config.http.listen.local_url(tls=tls) + "/healthz"
        if tls:
            # The agent's own listener on this host, whose certificate names the host (or is
            # self-signed), not 127.0.0.1: not verified. The probe sends nothing and reads only
            # the status.
            import ssl  # noqa: PLC0415

            context = ssl._create_unverified_context()  # noqa: S323
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            status = response.status
    except OSError as error:
        print(f"aiops-agent: {url}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK if status == 200 else EXIT_FAILURE
