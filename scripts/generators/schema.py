"""The agent's config schema as sections of keys, read through its public introspection only:
dataclasses.fields, typing.get_type_hints and the metadata that config/keys.py's key() stores
(doc, minimum, maximum, choices). Value types are told apart by name (Duration, Regex, ...), so
moving a type to another module changes nothing here."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional, Union

import yaml

from aiops_agent.config.keys import yaml_key
from aiops_agent.config.schema import Config
from aiops_agent.config.types import PARSED

ENV_PREFIX = "AIOPS__"
# Steps of a key path that the user names: an entry of a mapping, the position in a list.
ENTRY = "<name>"
INDEX = "<n>"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a key that has none


@dataclass(frozen=True)
class Key:
    path: tuple[str, ...]
    hint: Any  # the value's type, Optional[...] unwrapped
    nullable: bool  # null is allowed (Optional[...])
    default: Any  # REQUIRED when the key must be given
    doc: str
    minimum: Optional[float]
    maximum: Optional[float]
    choices: Optional[tuple[str, ...]]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def entries(self) -> str:
        """For a list or mapping of sections, the path of one entry: detection.rules.<n>."""
        step = INDEX if typing.get_origin(self.hint) is list else ENTRY
        return f"{self.dotted}.{step}"

    @property
    def type_name(self) -> str:
        name = type_name(self.hint)
        return f"{name} or null" if self.nullable else name

    @property
    def is_duration(self) -> bool:
        return _name(self.hint) == "Duration"

    def default_text(self) -> str:
        """The default as written in YAML ("15s" for a duration), or "required"."""
        if self.default is REQUIRED:
            return "required"
        return format_value(self.default, self.hint)

    def bounds_text(self) -> str:
        """ "1s to 1h", "at least 1", "" when unbounded."""
        shown = format_duration if self.is_duration else format_number
        if self.minimum is not None and self.maximum is not None:
            return f"{shown(self.minimum)} to {shown(self.maximum)}"
        if self.minimum is not None:
            return f"at least {shown(self.minimum)}"
        if self.maximum is not None:
            return f"at most {shown(self.maximum)}"
        return ""


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]
    doc: str
    nullable: bool  # the section may be absent or null (a receiver's type, a rule's forecast)
    keys: tuple[Key, ...]  # its own keys; nested sections come as sections of their own
    collections: tuple[Key, ...]  # its lists and mappings of sections (detection.rules)

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def sections(
    cls: Any = Config,
    path: tuple[str, ...] = (),
    doc: str = "",
    instance: Any = None,
    nullable: bool = False,
) -> Iterator[Section]:
    """Every section of the schema, depth first in the order of the fields, with its keys. The
    defaults are those of `instance` (the parent's default) when there is one, so a section
    whose default differs from its class's defaults is shown as the agent has it."""
    hints = typing.get_type_hints(cls)
    keys: list[Key] = []
    collections: list[Key] = []
    nested: list[tuple[Any, tuple[str, ...], str, Any, bool]] = []
    for field in dataclasses.fields(cls):
        hint, optional = _unwrap_optional(hints[field.name])
        key_path = (*path, yaml_key(field.name))
        default = _default(field) if instance is None else getattr(instance, field.name)
        key = Key(
            key_path,
            hint,
            optional,
            default,
            field.metadata.get("doc", ""),
            field.metadata.get("minimum"),
            field.metadata.get("maximum"),
            field.metadata.get("choices"),
        )
        item = _collection_item(hint)
        if dataclasses.is_dataclass(hint):
            child = None if default is REQUIRED else default
            nested.append((hint, key_path, key.doc, child, optional))
        elif item is not None:
            collections.append(key)
            step = INDEX if typing.get_origin(hint) is list else ENTRY
            nested.append((item, (*key_path, step), key.doc, None, False))
        else:
            keys.append(key)
    yield Section(path, doc, nullable, tuple(keys), tuple(collections))
    for child_cls, child_path, child_doc, child_instance, child_nullable in nested:
        yield from sections(child_cls, child_path, child_doc, child_instance, child_nullable)


def find_section(dotted: str) -> Section:
    """The section at a dotted path, e.g. "collectors"."""
    for found in sections():
        if found.dotted == dotted:
            return found
    raise KeyError(f"no section {dotted!r} in the schema")


def find_key(dotted: str) -> Key:
    """The key at a dotted path, e.g. "agent.interval"."""
    parent, _, _ = dotted.rpartition(".")
    for found in find_section(parent).keys:
        if found.dotted == dotted:
            return found
    raise KeyError(f"no key {dotted!r} in the schema")


def env_name(path: tuple[str, ...]) -> str:
    """The variable that overrides a key: AIOPS__AGENT__INTERVAL, AIOPS__RECEIVERS__<NAME>__..."""
    return ENV_PREFIX + "__".join(step.upper() for step in path)


def type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is list:
        return f"list of {_plural(type_name(typing.get_args(hint)[0]))}"
    if origin is dict:
        return f"mapping of {_plural(type_name(typing.get_args(hint)[1]))}"
    if dataclasses.is_dataclass(hint):
        return "mapping"
    names = {
        "bool": "boolean",
        "int": "integer",
        "float": "number",
        "str": "string",
        "Duration": "duration",
        "ListenAddress": "HOST:PORT",
        "Matcher": "matcher",
        "Selector": "selector",
        "Timestamp": "time",
        "Regex": "regex",
        "Secret": "secret",
    }
    return names.get(_name(hint), _name(hint))


def scalar_name(hint: Any) -> str:
    """The Python name of a scalar type: bool, int, float, str, Duration, Regex, ..."""
    return _name(hint)


def format_value(value: Any, hint: Any = None) -> str:
    """A value as written in YAML, on one line: a duration as "15s", an empty string as ""."""
    if _name(hint) == "Duration" and isinstance(value, (int, float)):
        return format_duration(value)
    return flow_yaml(plain(value))


def flow_yaml(value: Any) -> str:
    if value == "":
        return '""'
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, sort_keys=False)
    return text.strip().removesuffix("\n...").strip()


def plain(value: Any) -> Any:
    """A default as plain data: a secret's default is empty; a value object is its text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, tuple(PARSED)):  # kept parsed in the config; str() is its text
        return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(name): plain(item) for name, item in value.items()}
    if hasattr(value, "reveal"):  # a Secret: every default secret is empty
        return ""
    return str(value)


def format_number(number: float) -> str:
    """1000000 rather than 1e+06; 0.1 as 0.1."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def format_duration(seconds: float) -> str:
    """Seconds as the agent parses them back: 14400 -> "4h", 5400 -> "1h30m", 0.1 -> "100ms"."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return REQUIRED


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) is Union:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) == 1:
            return members[0], True
    return hint, False


def _collection_item(hint: Any) -> Any:
    """The section class of a list or mapping of sections, else None."""
    if typing.get_origin(hint) not in (list, dict):
        return None
    item = typing.get_args(hint)[-1]
    return item if dataclasses.is_dataclass(item) else None


def _name(hint: Any) -> str:
    return str(getattr(hint, "__name__", hint))


def _plural(name: str) -> str:
    return name if name.endswith("s") else name + "s"
