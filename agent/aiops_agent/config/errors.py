"""Configuration errors that name the key, the file and the line, and never a secret's value."""

from __future__ import annotations

from typing import NamedTuple


class Problem(NamedTuple):
    path: str  # dotted key path, e.g. "http.listen"
    where: str  # "FILE:LINE", "environment variable NAME" or "FILE"
    message: str

    def __str__(self) -> str:
        key = f"{self.path}: " if self.path else ""
        return f"{self.where}: {key}{self.message}"


class ConfigError(Exception):
    """Every problem found in one configuration, so a user fixes them all in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
