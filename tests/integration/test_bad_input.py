"""Bad input drill.

Configs: every broken config in tests/data/bad-configs/ plus generated ones (binary junk, a huge
file, a FIFO, a directory, an unreadable file, an alias bomb, deep nesting, a bad environment
override) gets a clear error from `check-config` — naming the file, the line and the key — and
exit status 2; and, put in place of a running agent's config before a SIGHUP, leaves the agent
as it was: same PID, still collecting and serving, aiops_agent_config_last_reload_successful 0,
the old settings still in effect.

Fuzzing (hypothesis): random config documents and environment overrides fed to the loader
in-process raise nothing but ConfigError; random HTTP requests (methods, paths, headers, bodies,
raw junk) sent over raw sockets to a running agent never get a 5xx other than the documented 503
(/healthz when unhealthy, too many connections), never a traceback, and never kill it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional, get_type_hints

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops_agent.config import Config, ConfigError, load_config
from aiops_agent.config.loader import DEFAULT_CONFIG_PATH
from tests.helpers.agentproc import AgentProcess, running_agent, wait_started
from tests.helpers.cli import AGENT, check_config, run_cli

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad-configs"
_EXPECT = re.compile(r"^# expect: (\d+|-) \| (.+)$")


@dataclass
class BadInput:
    name: str
    path: Path
    line: Optional[int]  # the line the message must name; None: the file as a whole
    expected: str
    env: Optional[dict[str, str]] = None
    drop_dac: bool = False  # run check-config without CAP_DAC_OVERRIDE (see _unreadable)
    on_reload: bool = True  # also try it on a running agent


def corpus_files() -> list[BadInput]:
    inputs = []
    for path in sorted(CORPUS.glob("*.yaml")):
        match = _EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0])
        assert match, f"{path}: the first line must be '# expect: LINE | TEXT'"
        line = None if match.group(1) == "-" else int(match.group(1))
        inputs.append(BadInput(path.stem, path, line, match.group(2)))
    return inputs


def generated(directory: Path) -> list[BadInput]:
    """Bad inputs that cannot be kept as text files in the repository."""
    made: list[BadInput] = []

    def add(name: str, content: bytes, line: Optional[int], expected: str) -> Path:
        path = directory / f"{name}.yaml"
        path.write_bytes(content)
        made.append(BadInput(name, path, line, expected))
        return path

    junk = bytes(random.Random(6).getrandbits(8) for _ in range(4096))
    add("binary-junk", junk, None, "not UTF-8 text")
    add("nul-byte", b"agent:\n  interval: 5s\0\n", 2, "binary data (NUL byte)")
    add("latin-1", b"agent:\n  hostname: caf\xe9\n", 2, "not UTF-8 text")
    add("huge", b"# padding\n" * 200_000, None, "larger than 1024 KiB")
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    add("alias-bomb", "\n".join(levels).encode() + b"\n", None, "once aliases are expanded")
    # Merge keys that double at each level: 2**40 keys once flattened.
    merges = ["m0: &m0 {k: 1}"]
    merges += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 40)]
    add("merge-bomb", "\n".join(merges).encode() + b"\n", None, "once aliases are expanded")
    add("deep-nesting", b"agent: " + b"[" * 5000 + b"]" * 5000 + b"\n", None, "nested too deeply")

    fifo = directory / "fifo.yaml"
    os.mkfifo(fifo)
    made.append(BadInput("fifo", fifo, None, "not a regular file"))
    folder = directory / "directory.yaml"
    folder.mkdir()
    made.append(BadInput("directory", folder, None, "cannot read"))
    dangling = directory / "dangling.yaml"
    dangling.symlink_to(directory / "nowhere.yaml")
    made.append(BadInput("dangling-symlink", dangling, None, "No such file or directory"))
    unreadable = directory / "unreadable.yaml"
    unreadable.write_text("agent:\n  interval: 5s\n", encoding="utf-8")
    unreadable.chmod(0)
    made.append(
        BadInput(
            "unreadable",
            unreadable,
            None,
            "Permission denied",
            drop_dac=os.geteuid() == 0,
            on_reload=False,  # the agent runs as root here; see _unreadable
        )
    )
    (directory / "empty-secret").write_bytes(b"\n")
    add(
        "empty-secret-file",
        f"receivers:\n  hook:\n    webhook:\n      url: 'file:{directory}/empty-secret'\n".encode(),
        4,
        f"receivers.hook.webhook.url: secret file {directory}/empty-secret is empty",
    )
    good = directory / "good.yaml"
    good.write_text("agent:\n  interval: 5s\n", encoding="utf-8")
    made.append(
        BadInput(
            "environment",
            good,
            None,
            "environment variable AIOPS__AGENT__INTERVAL: agent.interval: 'often' is not a duration",
            env={"AIOPS__AGENT__INTERVAL": "often"},
            on_reload=False,
        )
    )
    return made


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[BadInput]:
    return corpus_files() + generated(tmp_path_factory.mktemp("generated-bad-configs"))


def check_bad(bad: BadInput) -> subprocess.CompletedProcess[str]:
    # As root, mode 000 does not stop a read; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    # it does, as it would for the service's own user.
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    return check_config(bad.path, env=bad.env, prefix=prefix if bad.drop_dac else ())


def test_check_config_rejects_each_bad_input_clearly(bad_inputs: list[BadInput]) -> None:
    failures = []
    for bad in bad_inputs:
        result = check_bad(bad)  # a hang (e.g. on a FIFO) fails on check_config's deadline
        where = f"{bad.path}:{bad.line}: " if bad.line is not None else f"{bad.path}"
        if bad.env:
            where = next(iter(bad.env))
        ok = (
            result.returncode == 2
            and where in result.stderr
            and bad.expected in result.stderr
            and "Traceback" not in result.stderr
        )
        if not ok:
            failures.append(f"{bad.name}: exit {result.returncode}:\n{result.stderr}")
    print(f"\nbad inputs tried with check-config: {len(bad_inputs)}")
    assert not failures, "\n".join(failures)


def test_empty_and_comment_only_configs_are_valid(tmp_path: Path) -> None:
    for content in ("", "# nothing but a comment\n", "---\n", "agent:\n"):
        path = tmp_path / "c.yaml"
        path.write_text(content, encoding="utf-8")
        result = check_bad(BadInput("ok", path, None, ""))
        assert result.returncode == 0, (content, result.stderr)


# --- configuration ergonomics: no file, near-miss overrides, empty secrets, order ---------------


def _without_default_config() -> list[str]:
    """A command prefix under which nothing is at the default config path. Where the agent is
    installed, a private mount namespace hides its directory (that needs root)."""
    if not os.path.lexists(DEFAULT_CONFIG_PATH):
        return []
    hide = f'mount -t tmpfs tmpfs "{os.path.dirname(DEFAULT_CONFIG_PATH)}" && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", hide, "sh"]


def _cli(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, prefix=_without_default_config())


NO_FILE = f"no configuration file at {DEFAULT_CONFIG_PATH}; using defaults"


def test_check_config_without_a_file_says_defaults_are_used(tmp_path: Path) -> None:
    result = _cli("check-config")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(NO_FILE) == 1, result.stderr
    # A file that was asked for and is missing stays an error.
    missing = _cli("check-config", "--config", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "using defaults" not in missing.stderr


def test_run_without_a_file_logs_it_once_and_warns_of_near_miss_overrides(tmp_path: Path) -> None:
    env = {
        "AIOPS__HTTP__LISTEN": "127.0.0.1:0",
        "AIOPS__AGENT__STATE_DIR": str(tmp_path / "state"),
        "AIOPS__AGENT__INTERVAL": "1s",
        "AIOPS_AGENT_INTERVAL": "1h",  # one underscore: not an override
    }
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("AIOPS_")}
    stderr_path = tmp_path / "stderr.log"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [*_without_default_config(), *AGENT, "run", "--log-format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**clean, **env},
        )
    agent = AgentProcess(process, tmp_path, tmp_path / "none.yaml", stderr_path, "http", None)
    try:
        wait_started(agent, 30.0)
        records = agent.log_records()
    finally:
        code = agent.stop()
    assert code in (0, -signal.SIGTERM), agent.stderr_text()
    said = [r for r in records if r.get("msg") == NO_FILE]
    assert [r["level"] for r in said] == ["info"], agent.stderr_text()
    warned = [r for r in records if "AIOPS_AGENT_INTERVAL" in str(r.get("msg"))]
    assert [r["level"] for r in warned] == ["warning"], agent.stderr_text()
    assert "did you mean AIOPS__AGENT__INTERVAL?" in warned[0]["msg"]


def test_check_config_warns_of_near_miss_overrides(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("agent:\n  interval: 5s\n", encoding="utf-8")
    near_misses = ["AIOPS_HTTP_LISTEN", "AIOPS_HTTP__LISTEN", "aiops__http__listen"]
    env = dict.fromkeys(near_misses, "0.0.0.0:1")
    env["AIOPS_IMAGE"] = "registry.example.org/aiops-agent:1"  # another tool's: no warning
    result = _cli("check-config", "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == len(near_misses), result.stderr
    for variable in near_misses:
        assert any(
            f"environment variable {variable} is not read" in line
            and "did you mean AIOPS__HTTP__LISTEN?" in line
            for line in warnings
        ), (variable, result.stderr)
    # With the prefix right and one underscore missing, it names no key: an error, as before.
    wrong = _cli("check-config", "--config", str(config), env={"AIOPS__HTTP_LISTEN": "0.0.0.0:1"})
    assert wrong.returncode == 2
    assert (
        "AIOPS__HTTP_LISTEN: http_listen: does not name a configurable key; did you mean "
        "AIOPS__HTTP__LISTEN?" in wrong.stderr
    )


def test_secret_reference_to_an_empty_variable_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "receivers:\n  hook:\n    webhook:\n      url: '${AIOPS_TEST_HOOK_URL}'\n",
        encoding="utf-8",
    )
    result = _cli("check-config", "--config", str(config), env={"AIOPS_TEST_HOOK_URL": ""})
    assert result.returncode == 2
    assert (
        f"{config}:4: receivers.hook.webhook.url: environment variable AIOPS_TEST_HOOK_URL is empty"
        in result.stderr
    ), result.stderr


def test_errors_are_listed_in_line_order(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    lines = ["log:", "  level: loud", "collectors:", "  cpu: {enabled: maybe}"]  # lines 1-4
    lines += [f"# {n}" for n in range(5, 10)] + ["agent:", "  interval: often"]  # line 11
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _cli(
        "check-config", "--config", str(config), env={"AIOPS__HTTP__MAX_CONNECTIONS": "lots"}
    )
    assert result.returncode == 2
    listed = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    assert [line.split(": ")[0] for line in listed] == [
        f"{config}:2",
        f"{config}:4",
        f"{config}:11",
        "environment variable AIOPS__HTTP__MAX_CONNECTIONS",
    ], result.stderr


def metric(text: str, name: str, labels: str = "") -> Optional[float]:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def _rejections(agent: AgentProcess) -> int:
    return sum(
        1
        for r in agent.log_records()
        if str(r.get("msg", "")).startswith(("reload rejected", "reload failed"))
    )


def _clear(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        target.rmdir()
    else:
        target.unlink(missing_ok=True)


def _put_in_place(bad: BadInput, target: Path) -> None:
    """Make the agent's config path what the bad input is: same bytes, or the same kind of
    file (FIFO, directory, dangling symlink)."""
    _clear(target)
    mode = os.lstat(bad.path).st_mode
    if stat.S_ISFIFO(mode):
        os.mkfifo(target)
    elif stat.S_ISDIR(mode):
        target.mkdir()
    elif stat.S_ISLNK(mode):
        target.symlink_to(os.readlink(bad.path))
    else:
        target.write_bytes(bad.path.read_bytes())


def test_bad_config_on_sighup_leaves_the_agent_unchanged(bad_inputs: list[BadInput]) -> None:
    good = {"agent": {"interval": "1s"}, "collectors": {"hwmon": {"enabled": False}}}
    with running_agent(good) as agent:
        pid = agent.pid
        original = agent.config_path.read_text(encoding="utf-8")
        tried = 0
        for bad in (b for b in bad_inputs if b.on_reload):
            before = _rejections(agent)
            _put_in_place(bad, agent.config_path)
            agent.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 15
            while _rejections(agent) == before:
                assert agent.alive(), f"{bad.name}: the agent died:\n{agent.stderr_text()[-3000:]}"
                assert time.monotonic() < deadline, f"{bad.name}: no rejection logged"
                time.sleep(0.05)
            tried += 1
            # The page is rendered just after the rejection is logged.
            deadline = time.monotonic() + 5
            while metric(page := agent.metrics(), "aiops_agent_config_last_reload_successful"):
                assert time.monotonic() < deadline, f"{bad.name}: reload_successful still 1"
                time.sleep(0.05)
            assert agent.alive() and agent.pid == pid, bad.name
            assert agent.get("/healthz")[0] == 200, bad.name
            assert metric(page, "aiops_agent_config_last_reload_successful") == 0, bad.name
            assert metric(page, "aiops_agent_collection_interval_seconds") == 1, bad.name
            assert 'collector="hwmon"' not in page, bad.name  # still disabled
            assert metric(page, "aiops_agent_collector_success", 'collector="cpu"') == 1, bad.name
        records = agent.log_records()
        assert not [r for r in records if "exception" in r], "a reload raised unexpectedly"
        # The loop was not wedged by any of them: collections go on.
        start = metric(agent.metrics(), "aiops_agent_collections_total") or 0.0
        deadline = time.monotonic() + 30
        while (
            collections := (metric(agent.metrics(), "aiops_agent_collections_total") or 0.0) - start
        ) < 2:
            assert time.monotonic() < deadline, "collections stopped after the bad reloads"
            time.sleep(0.2)
        # And a good config is still taken afterwards.
        _clear(agent.config_path)
        agent.config_path.write_text(original.replace("interval: 1s", "interval: 2s"))
        agent.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while metric(agent.metrics(), "aiops_agent_collection_interval_seconds") != 2:
            assert time.monotonic() < deadline, "a good config was not taken after the bad ones"
            time.sleep(0.1)
        assert metric(agent.metrics(), "aiops_agent_config_last_reload_successful") == 1
        print(
            f"\nbad configs tried on SIGHUP: {tried}; collections went on ({collections:.0f} more)"
        )


# --- fuzzing the loader -------------------------------------------------------------------------


def _schema_keys(section: Any = Config, seen: Optional[set[str]] = None) -> set[str]:
    """Every key name the schema knows, at any depth, so random documents hit real sections."""
    seen = set() if seen is None else seen
    for item in fields(section):
        seen.add(item.name)
        hint = get_type_hints(section)[item.name]
        for candidate in (hint, *getattr(hint, "__args__", ())):
            if is_dataclass(candidate) and isinstance(candidate, type):
                _schema_keys(candidate, seen)
    return seen


KEYS = sorted(_schema_keys())
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "15s",
            "1h30m",
            "0",
            "-1s",
            "1e400",
            "127.0.0.1:0",
            "[::1]:9877",
            "^(a",
            ".*",
            "${HOME}",
            "file:/etc/hostname",
            "info",
            "json",
            "true",
        ]
    )
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
ENVIRONS = st.dictionaries(
    st.lists(
        st.sampled_from(KEYS) | st.text("abcxyz_0123456789", max_size=5), min_size=0, max_size=4
    ).map(lambda parts: "AIOPS__" + "__".join(p.upper() for p in parts)),
    st.text(max_size=20),
    max_size=3,
)
RAW = st.binary(max_size=2000) | st.text(
    alphabet=st.sampled_from(list("agent:interval 15s\n-[]{}&*!|>#'\"\t<<,?%@`")), max_size=300
).map(lambda t: t.encode())


def test_loader_on_random_documents_raises_only_config_error() -> None:
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        document=st.dictionaries(st.sampled_from(KEYS), documents, max_size=5) | documents,
        environ=ENVIRONS,
    )
    def load(document: Any, environ: dict[str, str]) -> None:
        try:
            text = yaml.safe_dump(document, allow_unicode=True)
        except yaml.YAMLError:
            outcomes["not dumpable"] += 1
            return
        outcomes[_load_text(text.encode("utf-8", errors="surrogatepass"), environ)] += 1

    load()
    print(f"\nloader fuzzing, random documents: {dict(outcomes)}")
    # The fuzzing reached both sides of the loader: configs it takes and configs it refuses.
    assert outcomes["valid"] > 0 and outcomes["config error"] > 0, outcomes


def test_loader_on_random_bytes_raises_only_config_error() -> None:
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(content=RAW)
    def load(content: bytes) -> None:
        outcomes[_load_text(content, {})] += 1

    load()
    print(f"\nloader fuzzing, random bytes: {dict(outcomes)}")
    assert outcomes["valid"] > 0 and outcomes["config error"] > 0, outcomes


def _load_text(content: bytes, environ: dict[str, str]) -> str:
    """ "valid" or "config error"; anything else the loader raises fails the test."""
    with tempfile.NamedTemporaryFile(suffix=".yaml") as handle:
        handle.write(content)
        handle.flush()
        try:
            config = load_config(handle.name, environ, required=True)
        except ConfigError as error:
            assert error.problems and all(str(p) for p in error.problems)
            return "config error"
        assert isinstance(config, Config)
        return "valid"


# --- fuzzing the HTTP server -------------------------------------------------------------------


def _request(
    method: str,
    path: str,
    version: str,
    headers: list[tuple[str, str]],
    body: bytes,
    fix_length: bool,
) -> bytes:
    lines = [f"{method} {path} {version}".encode("utf-8", errors="surrogateescape")]
    for name, value in headers:
        lines.append(f"{name}: {value}".encode("utf-8", errors="surrogateescape"))
    if fix_length and body:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


METHODS = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "PATCH",
    "get",
    "G\x00T",
    "",
]
PATHS = [
    "/metrics",
    "/healthz",
    "/readyz",
    "/",
    "/metrics?x=1",
    "/../etc/passwd",
    "//",
    "*",
    "/%00",
    "/%ff%fe",
    "/metrics%20",
    "http://x/metrics",
    "/" + "a" * 9000,
]
VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1 extra", "", "http/1.1"]
header_names = st.sampled_from(
    [
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Accept-Encoding",
        "Authorization",
        "Expect",
        "X-Junk",
    ]
) | st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=20)
header_values = st.sampled_from(
    [
        "0",
        "-1",
        "99999999999999999999",
        "chunked",
        "close",
        "keep-alive",
        "gzip",
        "Basic Og==",
        "100-continue",
        "",
    ]
) | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
requests_ = st.one_of(
    st.builds(
        _request,
        st.sampled_from(METHODS) | st.text(max_size=8),
        st.sampled_from(PATHS) | st.text(max_size=60).map(lambda t: "/" + t),
        st.sampled_from(VERSIONS),
        st.lists(st.tuples(header_names, header_values), max_size=8),
        st.binary(max_size=512),
        st.booleans(),
    ),
    st.binary(min_size=1, max_size=2048),
    # Well-formed requests with odd headers and bodies, so the dispatch and handlers are reached
    # and not only the request parser.
    st.builds(
        _request,
        st.sampled_from(["GET", "HEAD", "POST"]),
        st.sampled_from(["/metrics", "/healthz", "/readyz", "/", "/api/v1/alerts"])
        | st.text(max_size=30).map(lambda t: "/" + t),
        st.just("HTTP/1.1"),
        st.lists(
            st.tuples(
                st.sampled_from(["Accept-Encoding", "Authorization", "Accept", "X-Junk"]),
                st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
            ),
            max_size=4,
        ),
        st.binary(max_size=256),
        st.just(True),
    ),
)
HTTP_COUNTS: dict[str, int] = {"requests": 0, "no_response": 0}


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[AgentProcess]:
    with running_agent({"agent": {"interval": "1s"}, "http": {"request_timeout": "2s"}}) as agent:
        yield agent


def _exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(payload)
            connection.shutdown(socket.SHUT_WR)  # EOF: the server never waits for more
        except OSError:
            pass  # the server may answer and close before reading everything
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return received


def test_random_http_requests_never_crash_or_5xx(fuzz_target: AgentProcess) -> None:
    statuses: dict[int, int] = {}

    @settings(
        max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(payload=requests_)
    def one(payload: bytes) -> None:
        HTTP_COUNTS["requests"] += 1
        answer = _exchange(fuzz_target.port, payload)
        assert fuzz_target.alive(), fuzz_target.stderr_text()[-3000:]
        if not answer:
            HTTP_COUNTS["no_response"] += 1
            return
        match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
        assert match, answer[:200]
        status = int(match.group(1))
        statuses[status] = statuses.get(status, 0) + 1
        # 503: documented (too many connections, unhealthy); 505: the request line named a
        # version other than HTTP/1.0 or 1.1, which is what 505 means.
        version = payload.split(b"\r\n", 1)[0].rsplit(b" ", 1)[-1]
        allowed = {503} | ({505} if version not in (b"HTTP/1.0", b"HTTP/1.1") else set())
        assert status < 500 or status in allowed, (payload[:300], answer[:500])
        assert b"Traceback" not in answer and b'File "' not in answer

    one()
    # Still serving, and nothing was logged as a handler failure.
    assert fuzz_target.get("/metrics")[0] == 200
    log = fuzz_target.stderr_text()
    assert "HTTP handler failed" not in log and "Traceback" not in log
    print(
        f"\nHTTP fuzzing: {HTTP_COUNTS['requests']} requests, statuses {dict(sorted(statuses.items()))}, "
        f"{HTTP_COUNTS['no_response']} closed without an answer"
    )
