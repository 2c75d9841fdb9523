"""Load the YAML file, apply AIOPS__* environment overrides, and validate against the schema,
reporting every problem with the key's path and the file and line it came from."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import stat
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, Optional, TypeVar, Union

import yaml

from aiops_agent.config.errors import ENVIRONMENT, ConfigError, Notice, Problem
from aiops_agent.config.keys import yaml_key
from aiops_agent.config.notify_schema import check_receiver_modules, check_routing
from aiops_agent.config.schema import Config
from aiops_agent.config.types import (
    PARSED,
    Duration,
    Regex,
    Secret,
    parse_duration,
    resolve_secret,
)

DEFAULT_CONFIG_PATH = "/etc/aiops-agent/config.yaml"
MAX_CONFIG_BYTES = 1 << 20  # a host agent's config is a few KiB; a megabyte is a mistake
# YAML aliases let a small file stand for a huge tree ("billion laughs"); no real config is near.
MAX_YAML_NODES = 100_000
# PyYAML's scanner slows down quadratically with [ and { nesting: seconds at a few thousand
# levels, spent on the collection loop's thread during a reload. Real configs nest a few levels.
MAX_FLOW_DEPTH = 100
ENV_PREFIX = "AIOPS__"

Path_ = tuple[Union[str, int], ...]
T = TypeVar("T")
_STRING_TYPES = (str, Duration, Regex, Secret, *PARSED)


class _Origins:
    """Where each key path came from, for error messages."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.by_path: dict[Path_, str] = {}

    def of(self, path: Path_) -> str:
        while path:
            if path in self.by_path:
                return self.by_path[path]
            path = path[:-1]
        return self.default


def load_config(
    path: Optional[str],
    environ: Optional[Mapping[str, str]] = None,
    *,
    required: bool = False,
    notices: Optional[list[Notice]] = None,
    resolve_secrets: bool = True,
) -> Config:
    """Load and validate. A missing file at the default path means defaults; a missing file that
    was asked for explicitly (required=True) is an error. Raises ConfigError. What is worth
    telling but not an error (no file, an environment variable that is almost an override) is
    appended to `notices` when given, for the caller to print or log once. resolve_secrets=False
    leaves "${ENV}" and "file:PATH" secrets unresolved, for a config checked away from where it
    runs."""
    environ = os.environ if environ is None else environ
    notices = [] if notices is None else notices
    file_name = path or DEFAULT_CONFIG_PATH
    origins = _Origins(file_name)
    raw: Any = {}
    if required or not _absent(file_name):
        raw = _read_yaml(file_name, origins)
    else:
        notices.append(Notice("info", f"no configuration file at {file_name}; using defaults"))
    if raw is None:  # an empty file
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            [Problem("", f"{file_name}:1", "the top level must be a mapping of sections")]
        )
    problems: list[Problem] = []
    notices.extend(_near_miss_overrides(environ))
    _apply_environment(raw, environ, origins, problems)
    config = _Builder(origins, problems, resolve_secrets).build(Config, raw, ())
    if not problems:
        problems.extend(_cross_section_problems(config, origins, resolve_secrets))
    if problems:
        raise ConfigError(problems)
    assert isinstance(config, Config)
    return config


class SchemaFile(Generic[T]):
    """A YAML file other than the main config (the web config), read and checked against a schema
    with the main config's rules (size and YAML limits, types, unknown keys with suggestions,
    bounds), so its problems read alike. An empty file is an empty mapping. Unreadable or invalid
    YAML raises ConfigError; problems with keys are collected in `problems`, where further checks
    add theirs with report(), and raise_problems() raises them all at once."""

    def __init__(self, path: str, schema: type[T]) -> None:
        self.path = path
        self._origins = _Origins(path)
        raw: Any = _read_yaml(path, self._origins)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError([Problem("", f"{path}:1", "the top level must be a mapping")])
        self.raw: dict[str, Any] = raw  # as read, for checks that must run despite other problems
        self.problems: list[Problem] = []
        self.value: Optional[T] = _Builder(self._origins, self.problems).build(schema, raw, ())

    def report(self, key_path: Path_, message: str) -> None:
        """A problem with the key at key_path, placed at its line."""
        self.problems.append(Problem(_dotted(key_path), self._origins.of(key_path), message))

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def _absent(file_name: str) -> bool:
    """Nothing at all at the path. Anything else (a dangling symlink, a directory the agent may
    not search) is read, so its error is reported instead of defaults taken silently."""
    try:
        os.lstat(file_name)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def _read_yaml(file_name: str, origins: _Origins) -> Any:
    try:
        data = _read_regular_file(file_name, MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError([Problem("", file_name, f"cannot read: {error.strerror}")]) from None
    if len(data) > MAX_CONFIG_BYTES:
        limit = f"larger than {MAX_CONFIG_BYTES // 1024} KiB; is this the right file?"
        raise ConfigError([Problem("", file_name, limit)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError([Problem("", f"{file_name}:{line}", "not UTF-8 text")]) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ConfigError(
            [Problem("", f"{file_name}:{line}", "binary data (NUL byte) in a YAML file")]
        )
    too_deep = _flow_too_deep_at(text)
    if too_deep is not None:
        line = text[:too_deep].count("\n") + 1
        raise ConfigError([Problem("", f"{file_name}:{line}", "YAML nested too deeply")])
    try:
        loader = yaml.SafeLoader(text)  # rejects control characters in the whole text here
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        reason = f"invalid YAML: character U+{int(error.character):04X} is not allowed"
        raise ConfigError([Problem("", f"{file_name}:{line}", reason)]) from None
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_YAML_NODES:
            message = f"more than {MAX_YAML_NODES} values once aliases are expanded"
            raise ConfigError([Problem("", file_name, message)])
        return None if node is None else _construct(loader, node, (), file_name, origins)
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise ConfigError([Problem("", file_name, "YAML nested too deeply")]) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        reason = error.problem or error.context or "invalid YAML"
        raise ConfigError([Problem("", f"{file_name}:{line}", f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as error:
        raise ConfigError([Problem("", file_name, f"invalid YAML: {error}")]) from None
    finally:
        loader.dispose()


def _read_regular_file(file_name: str, limit: int) -> bytes:
    """Read at most `limit` bytes of a regular file. The open does not block and anything else is
    refused: opening a FIFO would wait for a writer (and a reload with it, stalling collection),
    a device could feed junk forever."""
    descriptor = os.open(file_name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
            raise OSError(0, f"not a regular file but {kind}")
        return handle.read(limit)


def _flow_too_deep_at(text: str) -> Optional[int]:
    """Where [ and { nesting first passes MAX_FLOW_DEPTH, or None. Brackets inside quoted strings
    count too: harmless, as a config that has a hundred unclosed ones there is not plausible."""
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return None
    depth = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_FLOW_DEPTH:
            return match.start()
    return None


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values in the tree the node stands for, aliases counted each time they are used (merge
    keys included); linear in the file, however large the result."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            total += _expanded_size(key_node, sizes) + _expanded_size(value_node, sizes)
    elif isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(item, sizes) for item in node.value)
    sizes[id(node)] = total
    return total


def _construct(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path_, file_name: str, origins: _Origins
) -> Any:
    """Build plain Python values from the node tree, remembering each key's line."""
    origins.by_path[path] = f"{file_name}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves "<<" merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = loader.construct_object(key_node, deep=True)
            if not isinstance(name, (str, int, float, bool)):
                line = key_node.start_mark.line + 1
                raise ConfigError(
                    [Problem(_dotted(path), f"{file_name}:{line}", "keys must be scalars")]
                )
            name = str(name)
            if name in result:
                line = key_node.start_mark.line + 1
                problem = Problem(_dotted((*path, name)), f"{file_name}:{line}", "duplicate key")
                raise ConfigError([problem])
            result[name] = _construct(loader, value_node, (*path, name), file_name, origins)
            key_path: Path_ = (*path, name)
            origins.by_path[key_path] = f"{file_name}:{key_node.start_mark.line + 1}"
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(loader, item, (*path, index), file_name, origins)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def _apply_environment(
    raw: dict[str, Any], environ: Mapping[str, str], origins: _Origins, problems: list[Problem]
) -> None:
    """AIOPS__SECTION__KEY=value overrides the file. The value is parsed as YAML unless the key is a
    string, so "AIOPS__COLLECTORS__CPU__ENABLED=false" is a bool and a password stays verbatim."""
    for variable in sorted(name for name in environ if name.startswith(ENV_PREFIX)):
        parts = [part.lower() for part in variable[len(ENV_PREFIX) :].split("__")]
        path: Path_ = tuple(int(p) if p.isdigit() else p for p in parts)
        where = f"{ENVIRONMENT}{variable}"
        if not parts or "" in parts:
            problems.append(Problem("", where, "empty key: use AIOPS__SECTION__KEY=value"))
            continue
        expected = _expected_type(path)
        spelling = (
            _override_spellings().get(_loose_spelling(variable)) if expected is None else None
        )
        if spelling:  # AIOPS__HTTP_LISTEN: one underscore too few
            message = f"does not name a configurable key; did you mean {spelling}?"
            problems.append(Problem(_dotted(path), where, message))
            continue
        text = environ[variable]
        value: Any = text
        if expected not in _STRING_TYPES:
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                problems.append(Problem(_dotted(path), where, "value is not valid YAML"))
                continue
        container: Any = raw
        for step in path[:-1]:
            if isinstance(container, dict):
                container = container.setdefault(step, {})
            elif isinstance(container, list) and isinstance(step, int) and step < len(container):
                container = container[step]
            else:
                problems.append(Problem(_dotted(path), where, "does not name a configurable key"))
                break
        else:
            last = path[-1]
            if isinstance(container, dict):
                container[last] = value
            elif isinstance(container, list) and isinstance(last, int) and last < len(container):
                container[last] = value
            else:
                problems.append(Problem(_dotted(path), where, "does not name a configurable key"))
                continue
            origins.by_path[path] = where


def _near_miss_overrides(environ: Mapping[str, str]) -> list[Notice]:
    """Variables that look like an override of a key that exists but are not read as one
    (AIOPS_HTTP_LISTEN, aiops__http__listen): a warning, not an error, as other software may use
    AIOPS_ names of its own."""
    found = []
    for variable in sorted(environ):
        if variable.startswith(ENV_PREFIX) or not variable.upper().startswith("AIOPS_"):
            continue
        spelling = _override_spellings().get(_loose_spelling(variable))
        if spelling:
            found.append(
                Notice(
                    "warning",
                    f"{ENVIRONMENT}{variable} is not read: overrides are spelled "
                    f"AIOPS__SECTION__KEY; did you mean {spelling}?",
                )
            )
    return found


def _loose_spelling(variable: str) -> str:
    """A variable's name with case and the number of underscores ignored."""
    return re.sub("_+", "_", variable.upper())


@functools.lru_cache(maxsize=1)
def _override_spellings() -> dict[str, str]:
    """Loose spelling -> override variable, for every section and key of the schema. Entries of
    user-named mappings and lists (receivers.NAME, routes.N) are not listed: their names are
    not known in advance. Built on first use: most environments have no near miss to look up."""
    spellings = {}
    for path in _schema_paths(Config, ()):
        variable = ENV_PREFIX + "__".join(str(step).upper() for step in path)
        spellings[_loose_spelling(variable)] = variable
    return spellings


def _schema_paths(section: Any, prefix: Path_) -> list[Path_]:
    paths = []
    for name, hint in typing.get_type_hints(section).items():
        path = (*prefix, yaml_key(name))
        paths.append(path)
        nested = _unwrap_optional(hint)
        if dataclasses.is_dataclass(nested):
            paths.extend(_schema_paths(nested, path))
    return paths


def _expected_type(path: Path_) -> Any:
    """The schema type at a key path, or None when the path does not name a key."""
    current: Any = Config
    for step in path:
        current = _unwrap_optional(current)
        if dataclasses.is_dataclass(current) and isinstance(step, str):
            hints = {yaml_key(n): t for n, t in typing.get_type_hints(current).items()}
            if step not in hints:
                return None
            current = hints[step]
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return None
    return _unwrap_optional(current)


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) is Union:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return hint


class _Builder:
    """One check of a YAML tree against its schema type, converting as it goes: where each key
    came from (for the problems' lines), the problems found so far (recorded, never raised), and
    whether secrets are resolved (False: "${ENV}" and "file:PATH" are checked for form only, for a
    config checked away from where it runs)."""

    def __init__(
        self, origins: _Origins, problems: list[Problem], resolve_secrets: bool = True
    ) -> None:
        self.origins = origins
        self.problems = problems
        self.resolve_secrets = resolve_secrets

    def report(self, path: Path_, message: str, where: Optional[Path_] = None) -> None:
        """A problem with the key at `path`, placed at the line of `where` (default: `path`)."""
        self.problems.append(
            Problem(_dotted(path), self.origins.of(path if where is None else where), message)
        )

    def build(self, hint: Any, value: Any, path: Path_) -> Any:
        if typing.get_origin(hint) is Union:
            if value is None:
                return None
            hint = _unwrap_optional(hint)
        if dataclasses.is_dataclass(hint):
            return self._section(hint, value, path)
        origin = typing.get_origin(hint)
        if origin is list:
            if not isinstance(value, list):
                self.report(path, f"expected a list, got {_describe(value)}")
                return []
            (item_type,) = typing.get_args(hint)
            return [self.build(item_type, item, (*path, i)) for i, item in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.report(path, f"expected a mapping, got {_describe(value)}")
                return {}
            _, item_type = typing.get_args(hint)
            return {
                str(name): self.build(item_type, item, (*path, str(name)))
                for name, item in value.items()
            }
        return _scalar(hint, value, self.resolve_secrets, lambda text: self.report(path, text))

    def _section(self, hint: Any, value: Any, path: Path_) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.report(path, f"expected a mapping, got {_describe(value)}")
            return None  # not hint(): a section may refuse its defaults (a receiver needs a type)
        problems_before = len(self.problems)
        fields = {yaml_key(field.name): field for field in dataclasses.fields(hint)}
        hints = typing.get_type_hints(hint)
        for name in value:
            if name not in fields:
                suggestion = _closest(str(name), list(fields))
                hint_text = f"; did you mean {suggestion[0]!r}?" if suggestion else ""
                known = ", ".join(sorted(fields))
                self.report((*path, name), f"unknown key{hint_text} (known keys: {known})")
        arguments = {}
        for name, field in fields.items():
            if name in value:
                before = len(self.problems)
                built = self.build(hints[field.name], value[name], (*path, name))
                if len(self.problems) == before:  # a value that failed its type has no bounds
                    for message in _bound_problems(field, built):
                        self.report((*path, name), message)
                if len(self.problems) == before and _required_secret(
                    field, hints[field.name], built
                ):
                    self.report((*path, name), "required secret is empty")
                arguments[field.name] = built
            elif (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                self.report((*path, name), "required key is missing", where=path)
        if len(self.problems) > problems_before:
            return None  # checks across this section's keys would only repeat what is reported
        try:
            return hint(**arguments)
        except (TypeError, ValueError) as error:
            self.report(path, str(error))
            return None


def _required_secret(field: dataclasses.Field[Any], hint: Any, value: Any) -> bool:
    """An empty secret where the key has no default to fall back on (a webhook's url). A secret
    with a default may be written empty to mean "off" (hmac_secret: "")."""
    required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    return required and _unwrap_optional(hint) is Secret and not value


def _cross_section_problems(
    config: Config, origins: _Origins, resolve_secrets: bool
) -> list[Problem]:
    """Checks no single section can make (a route naming an unknown receiver), run once every
    section is valid; each check yields (key path, message)."""
    found = list(check_routing(config.receivers, config.routes))
    if resolve_secrets:
        # Checked away from where it runs (--no-resolve-secrets, e.g. on an Ansible controller),
        # the packages of this Python say nothing about the agent's.
        found.extend(check_receiver_modules(config.receivers))
    return [Problem(_dotted(path), origins.of(path), message) for path, message in found]


def _scalar(hint: Any, value: Any, resolve_secrets: bool, fail: Callable[[str], None]) -> Any:
    secret = hint is Secret
    shown = "the value" if secret else repr(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        fail(f"expected true or false, got {shown}")
        return False
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        fail(f"expected an integer, got {shown}")
        return 0
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        fail(f"expected a number, got {shown}")
        return 0.0
    if hint is Duration:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Duration(float(value))
        if isinstance(value, str):
            try:
                return Duration(parse_duration(value))
            except ValueError as error:
                fail(str(error))
                return Duration(0.0)
        fail(f"expected a duration such as 30s or 5m, got {shown}")
        return Duration(0.0)
    if not isinstance(value, str):
        fail(f"expected a string, got {_describe(value) if secret else shown}")
        return Secret("") if secret else ""
    if secret:
        try:
            return resolve_secret(value, resolve=resolve_secrets)
        except ValueError as error:
            fail(str(error))
            return Secret("")
    parser = PARSED.get(hint)
    if parser is not None:
        try:
            return parser(value)
        except ValueError as error:
            fail(str(error))
            return None
    if hint is Regex:
        try:
            re.compile(value)
        except re.error as error:
            fail(f"invalid regular expression: {error}")
        return Regex(value)
    return value


def _bound_problems(field: dataclasses.Field[Any], value: Any) -> list[str]:
    """What is wrong with a value of the right type against its key's choices and bounds."""
    minimum, maximum, choices = (field.metadata.get(k) for k in ("minimum", "maximum", "choices"))
    found = []
    if choices and value not in choices:
        suggestion = _closest(str(value), list(choices))
        hint_text = f"; did you mean {suggestion[0]!r}?" if suggestion else ""
        found.append(f"must be one of {', '.join(choices)}{hint_text}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if minimum is not None and value < minimum:
            found.append(f"must be at least {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            found.append(f"must be at most {maximum:g}, got {value:g}")
    return found


def _describe(value: Any) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _dotted(path: Path_) -> str:
    return ".".join(str(step) for step in path)


def _closest(word: str, candidates: list[str]) -> list[str]:
    """difflib's nearest match; imported here because only a broken config needs it."""
    import difflib  # noqa: PLC0415

    return difflib.get_close_matches(word, candidates, n=1)
