"""docs/architecture.md sends a reader to files and names in one hop: every path it names exists
(under agent/aiops_agent/, or from the repository's root), and every `file.py:Name.attribute`
is defined there, so a move or a rename that leaves the page behind fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "agent" / "aiops_agent"
DOCUMENT = ROOT / "docs" / "architecture.md"
# `collectors/`, `agent.py`, `agent.py:Agent.reload`, `rules/aiops-agent.rules.yml`
REFERENCE = re.compile(r"`([\w./-]+(?:/|\.(?:py|md|yml|yaml|json)))(?::([\w.]+))?`")


def references(text: str) -> list[tuple[str, str]]:
    return REFERENCE.findall(text)


def defined(path: Path, dotted: str) -> bool:
    """Whether `dotted` (Name or Class.member) is a top-level def, class or assignment of the
    module, or a member of such a class."""
    scope: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    for part in dotted.split("."):
        found = next((node for node in scope if part in _names(node)), None)
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def _names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def problems(text: str) -> list[str]:
    found = []
    for path_text, name in references(text):
        candidates = [PACKAGE / path_text, ROOT / path_text]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            found.append(f"{path_text}: no such file or directory")
        elif name and not defined(path, name):
            found.append(f"{path_text}: defines no {name}")
    return found


def test_every_path_and_name_on_the_page_exists() -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    assert len(references(text)) > 50  # the page is read, and it does name files
    assert problems(text) == []


def test_a_stale_reference_is_reported() -> None:
    assert problems(
        "`alerting/baselines.py`, `agent.py:Agent.no_such`, `agent.py:Agent.reload`"
    ) == [
        "alerting/baselines.py: no such file or directory",
        "agent.py: defines no Agent.no_such",
    ]
