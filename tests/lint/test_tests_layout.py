"""The tests' own structure: what several test modules share lives in tests/helpers/ (no test
module imports another), and no test sleeps a fixed time and then asserts (machines running the
suite are shared and noisy: a test polls for what it expects, tests/helpers/wait.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    path
    for folder in ("tests", "scripts", "bench")
    for path in (ROOT / folder).rglob("*.py")
    if ".venv" not in path.parts
)


def imported_test_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found += [
            n for n in names if n.startswith("tests.") and n.split(".")[-1].startswith("test_")
        ]
    return found


def sleeps_then_asserts(path: Path) -> list[int]:
    """Lines of a time.sleep(...) statement directly followed by an assert."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if not isinstance(statements, list):
                continue
            for first, second in zip(statements, statements[1:]):
                if _is_sleep(first) and isinstance(second, ast.Assert):
                    found.append(first.lineno)
    return found


def _is_sleep(statement: ast.stmt) -> bool:
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    function = statement.value.func
    return isinstance(function, ast.Attribute) and function.attr == "sleep"


def test_no_test_module_imports_another() -> None:
    found = {str(p.relative_to(ROOT)): imported_test_modules(p) for p in SOURCES}
    assert not {path: names for path, names in found.items() if names}


def test_no_fixed_sleep_followed_by_an_assert() -> None:
    found = {str(p.relative_to(ROOT)): sleeps_then_asserts(p) for p in SOURCES}
    assert not {path: lines for path, lines in found.items() if lines}


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time\nfrom tests.unit.test_x import helper\n\n"
        "def test_y():\n    time.sleep(1)\n    assert helper()\n",
        encoding="utf-8",
    )
    assert imported_test_modules(sample) == ["tests.unit.test_x"]
    assert sleeps_then_asserts(sample) == [5]
