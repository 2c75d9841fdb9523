"""The helper every schema module declares its keys with. Kept apart from schema.py so section
modules (notify_schema.py and the like) can use it without importing schema.py, which imports
them: no import cycle."""

from __future__ import annotations

import dataclasses
import keyword
from typing import Any, Optional


def key(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    factory: Any = dataclasses.MISSING,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    choices: Optional[tuple[str, ...]] = None,
    restart: bool = False,
) -> Any:
    """A schema key: its default, a one-line description and the checks the loader applies.
    restart=True: the running agent cannot apply a change of it, so a reload that changes it is
    refused with a message saying a restart is needed."""
    metadata = {
        "doc": doc,
        "minimum": minimum,
        "maximum": maximum,
        "choices": choices,
        "restart": restart,
    }
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def yaml_key(field_name: str) -> str:
    """The YAML key of a field. A key that is a Python keyword ("continue") cannot be a field name,
    so its field carries a trailing underscore (continue_)."""
    bare = field_name[:-1] if field_name.endswith("_") else field_name
    return bare if keyword.iskeyword(bare) else field_name


def restart_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """The dotted paths of restart=True keys whose value differs between two configs (or
    sections of one)."""
    changed = []
    for field in dataclasses.fields(old):
        name = f"{path}{yaml_key(field.name)}"
        before, after = getattr(old, field.name), getattr(new, field.name)
        if field.metadata.get("restart") and before != after:
            changed.append(name)
        elif dataclasses.is_dataclass(before) and dataclasses.is_dataclass(after):
            changed.extend(restart_changes(before, after, f"{name}."))
    return changed
