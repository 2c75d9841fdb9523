"""Configuration errors that name the key, the file and the line, and never a secret's value."""

from __future__ import annotations

from typing import NamedTuple

ENVIRONMENT = "environment variable "  # how Problem.where names a variable


class Problem(NamedTuple):
    path: str  # dotted key path, e.g. "http.listen"
    where: str  # "FILE:LINE", "environment variable NAME" or "FILE"
    message: str

    def __str__(self) -> str:
        key = f"{self.path}: " if self.path else ""
        return f"{self.where}: {key}{self.message}"


class Notice(NamedTuple):
    """Something worth telling that does not stop the configuration from loading."""

    level: str  # "info" or "warning"
    message: str


def _reading_order(problems: list[Problem]) -> list[Problem]:
    """File problems first, by file (in the order they were found), then line and key path;
    environment variables after them, by name and key path. sorted() is stable, so problems on
    one key keep the order they were found in."""
    files: dict[str, int] = {}

    def position(problem: Problem) -> tuple[int, int, int, str, str]:
        if problem.where.startswith(ENVIRONMENT):
            return (1, 0, 0, problem.where, problem.path)
        name, _, line = problem.where.rpartition(":")
        if not (name and line.isdigit()):
            name, line = problem.where, "0"  # the file as a whole comes before its lines
        return (0, files.setdefault(name, len(files)), int(line), "", problem.path)

    return sorted(problems, key=position)


class ConfigError(Exception):
    """Every problem found in one configuration, so a user fixes them all in one pass, listed
    in reading order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = _reading_order(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
