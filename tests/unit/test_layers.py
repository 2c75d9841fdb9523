"""The plan of the house: every import of the agent's own modules goes down the layer table of
docs/architecture.md (or stays in its layer), and no chain of imports comes back to where it
started. Imports are read from the source with ast, wherever they stand (module level, inside a
function, under TYPE_CHECKING), and so are the "package.module:attribute" entries of the lazy
registries, which are imports made later."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "agent" / "aiops_agent"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
REGISTRY_ENTRY = re.compile(r"(aiops_agent(?:\.\w+)*):\w+")


class Layer(NamedTuple):
    name: str
    paths: tuple[str, ...]  # "base/" (a package) or "agent.py" (a module), under PACKAGE
    may_import: frozenset[str]


class Edge(NamedTuple):
    source: str
    target: str
    line: int


def read_layers(document: Path) -> list[Layer]:
    """The rows of the table under "## Layers": layer | `paths` | layers it may import."""
    text = document.read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    layers = []
    for row in rows:
        name, paths, may_import = (cell.strip() for cell in row.strip("|").split("|"))
        layers.append(
            Layer(
                name,
                tuple(re.findall(r"`([^`]+)`", paths)),
                frozenset(part.strip() for part in may_import.split(",") if part.strip()),
            )
        )
    return layers


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def layer_of(relative: str, layers: list[Layer]) -> list[str]:
    """The layers whose rows name this file (relative to the package): one, if all is well."""
    return [
        layer.name
        for layer in layers
        for path in layer.paths
        if relative == path or (path.endswith("/") and relative.startswith(path))
    ]


def imports(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Edge]:
    """The agent's own modules `module` imports, in any way, with the line that does."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Edge(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield Edge(module, base, node.lineno)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:  # a submodule, not a name in base
                    yield Edge(module, f"{base}.{alias.name}", node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            entry = REGISTRY_ENTRY.fullmatch(node.value)
            if entry:
                yield Edge(module, entry.group(1), node.lineno)


def own_edges(package: Path) -> tuple[dict[str, Path], list[Edge]]:
    modules = module_files(package)
    edges = [
        edge
        for module, path in modules.items()
        for edge in imports(module, path, modules)
        if edge.target.split(".")[0] == package.name and edge.target != module
    ]
    return modules, edges


def layering_problems(package: Path, layers: list[Layer]) -> list[str]:
    modules, edges = own_edges(package)
    allowed = {layer.name: layer.may_import | {layer.name} for layer in layers}
    unknown = {name for layer in layers for name in layer.may_import} - set(allowed)
    problems = [f"the layer table names unknown layers: {sorted(unknown)}"] if unknown else []
    layer: dict[str, str] = {}
    for module, path in modules.items():
        relative = path.relative_to(package).as_posix()
        owners = layer_of(relative, layers)
        if len(owners) == 1:
            layer[module] = owners[0]
        else:
            problems.append(
                f"{relative} belongs to {owners or 'no layer'}: name it in exactly one row of "
                "the layer table in docs/architecture.md"
            )
    for edge in edges:
        where = f"{modules[edge.source].relative_to(package.parent)}:{edge.line}"
        if edge.target not in modules:
            problems.append(f"{where}: {edge.target} is no module of the agent")
            continue
        source, target = layer.get(edge.source), layer.get(edge.target)
        if source and target and target not in allowed[source]:
            problems.append(
                f"{where}: {edge.source} ({source}) imports {edge.target} ({target}), which "
                f"its layer may not (it may import: {', '.join(sorted(allowed[source]))})"
            )
    return problems


def cycles(package: Path) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), as the modules in it."""
    modules, edges = own_edges(package)
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for edge in edges:
        if edge.target in graph:
            graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_every_import_goes_down_the_layer_table() -> None:
    problems = layering_problems(PACKAGE, read_layers(ARCHITECTURE))
    assert not problems, "\n".join(problems)


def private_imports(package: Path) -> list[str]:
    """`from other_module import _name`: a module reaching into another's internals (as the web
    config once did into the loader's _build, _Origins and _read_yaml)."""
    found = []
    for path in module_files(package).values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package.name):
                found += [
                    f"{path.relative_to(package.parent)}:{node.lineno}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    return found


def test_no_module_imports_another_s_private_names() -> None:
    assert private_imports(PACKAGE) == []


def test_no_import_cycle() -> None:
    assert cycles(PACKAGE) == []


def test_the_checks_catch_an_upward_import_a_cycle_and_an_unplaced_module(tmp_path: Path) -> None:
    """The checks above, on a small package made to break each rule once."""
    package = tmp_path / "aiops_agent"
    files = {
        "__init__.py": "",
        "base/__init__.py": "",
        # An upward import inside a function, which also closes a cycle with runner.py.
        "base/words.py": "def f():\n    from aiops_agent import runner\n",
        # A lazy registry's entry is an import too.
        "runner.py": "ENTRY = 'aiops_agent.base.words:f'\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    document = tmp_path / "architecture.md"
    document.write_text(
        "# A plan\n\n## Layers\n\n| layer | modules | may import |\n|---|---|---|\n"
        "| base | `__init__.py`, `base/` | |\n| runtime | `runner.py` | base |\n",
        encoding="utf-8",
    )
    layers = read_layers(document)
    assert layering_problems(package, layers) == [
        "aiops_agent/base/words.py:2: aiops_agent.base.words (base) imports aiops_agent.runner "
        "(runtime), which its layer may not (it may import: base)"
    ]
    assert cycles(package) == [["aiops_agent.base.words", "aiops_agent.runner"]]
    (package / "stray.py").write_text("from aiops_agent.base.words import _hidden\n", "utf-8")
    assert "stray.py belongs to no layer" in "\n".join(layering_problems(package, layers))
    assert private_imports(package) == ["aiops_agent/stray.py:1: aiops_agent.base.words._hidden"]
