"""Registries of optional parts, each imported by name on first use, so a part nobody configured
costs no memory: the collectors, the plugins and the notification senders. Entries are
"package.module:attribute" strings; tests/unit/test_layers.py reads them as imports, so they obey
the layering like any import."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


class LazyRegistry:
    def __init__(self, entries: Mapping[str, str]) -> None:
        self._entries = dict(entries)

    def names(self) -> list[str]:
        """In the order they were given."""
        return list(self._entries)

    def load(self, name: str) -> Any:
        """The attribute the entry names; imports its module (once: Python caches modules)."""
        module_name, _, attribute = self._entries[name].partition(":")
        return getattr(importlib.import_module(module_name), attribute)
