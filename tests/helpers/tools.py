"""Which external commands the test suite runs, read from the code rather than kept as a list that
can rot: the tests' own subprocess calls and shutil.which() look-ups (Python AST), and the shell
scripts the suite runs, followed through the scripts they call. Used by
tests/system/test_fresh_debian_setup.py to check that scripts/setup.sh installs all of them.

    python -m tests.helpers.tools        # prints the list, one alternative group a line
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SUBPROCESS_CALLS = {"run", "Popen", "check_output", "check_call", "call"}
_COMMAND_WORD = re.compile(r"^[a-z][a-z0-9_.+-]*$")
# The first word of each simple command: at the start of a line or after |, &&, ||, ;, $( or (.
_SEGMENT = re.compile(
    r"(?:^|\|\||&&|[|;(]|\$\()\s*(?:(?:then|do|else|elif|if|while|until|!)\s+)*([^\s;|&()]+)"
)
# Not commands: arithmetic $(( ... )), array literals NAME=( ... ) / NAME+=( ... ), and the
# regular expression of [[ ... =~ ... ]].
_NOT_COMMANDS = re.compile(r"\$\(\(.*?\)\)|\w+\+?=\([^)]*\)|=~[^\]]*\]\]")
_SCRIPT_REFERENCE = re.compile(r"([\w./-]+\.sh)\b")
# Run by the suite's own commands, but inside strings the scan does not read as commands:
# `ip link set lo up` in the shell snippet of tests/integration/test_endpoint_security.py.
IN_STRINGS = ("ip",)


def _literal_strings(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _command_of(node: ast.AST) -> list[str]:
    """The program (and one after a "--" separator, as in unshare ... -- sh) of a literal argv."""
    if not isinstance(node, (ast.List, ast.Tuple)) or not node.elts:
        return []
    first = node.elts[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return []
    found = [first.value]
    words = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
    if "--" in words:
        after = words.index("--") + 1
        if after < len(words) and isinstance(words[after], str):
            found.append(str(words[after]))
    return found


def python_commands(paths: list[Path]) -> tuple[set[str], list[tuple[str, ...]]]:
    """(commands, groups of alternatives) that the Python files run or look up."""
    commands: set[str] = set()
    alternatives: list[tuple[str, ...]] = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        constants = {
            target.id: _literal_strings(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = (
                    node.func.attr
                    if isinstance(node.func, ast.Attribute)
                    else getattr(node.func, "id", "")
                )
                owner = getattr(node.func, "value", None)
                owner_name = getattr(owner, "id", "")
                if name == "which" and owner_name == "shutil" and node.args:
                    arg = node.args[0]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        commands.add(arg.value)
                elif name == "require_binary" and node.args:
                    arg = node.args[0]
                    names = (
                        constants.get(arg.id, [])
                        if isinstance(arg, ast.Name)
                        else _literal_strings(arg)
                    )
                    if names:
                        alternatives.append(tuple(names))
                elif name in _SUBPROCESS_CALLS and owner_name == "subprocess" and node.args:
                    commands.update(_command_of(node.args[0]))
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and ("command" in t.id or "prefix" in t.id)
                for t in node.targets
            ):
                commands.update(_command_of(node.value))
    return {c for c in commands if _COMMAND_WORD.match(c)}, alternatives


def _shell_noise() -> set[str]:
    """bash's builtins and keywords, from bash itself."""
    listed = subprocess.run(
        ["bash", "-c", "compgen -b; compgen -k"], capture_output=True, text=True, check=True
    ).stdout
    return set(listed.split())


def _unquoted(line: str) -> str:
    """The line with quoted text blanked, except command substitutions inside double quotes."""
    out = []
    quote = ""
    depth = 0  # $( ... ) nesting inside double quotes
    i = 0
    while i < len(line):
        char = line[i]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif quote == '"' and depth == 0:
            if char == "\\":
                i += 1
            elif char == '"':
                quote = ""
            elif line.startswith("$(", i):
                depth = 1
                out.append(" $(")
                i += 1
        else:
            if depth and char == "(":
                depth += 1
            elif depth and char == ")":
                depth -= 1
                if depth == 0:
                    out.append(") ")
                    i += 1
                    continue
            if char in "'\"" and not depth:
                quote = char
                out.append("Q")  # a quoted word stays a word: `"$here/x.sh" arg` starts with Q
            elif char in "'\"":
                pass  # quotes inside a substitution: their text is not a command either
            else:
                out.append(char)
        i += 1
    return "".join(out)


def _logical_lines(text: str) -> list[str]:
    """Lines without comments, continuations joined, array literals and heredocs dropped."""
    lines: list[str] = []
    pending = ""
    in_array = False
    heredoc_end = ""
    for raw in text.splitlines():
        if heredoc_end:
            if raw.strip() == heredoc_end:
                heredoc_end = ""
            continue
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        if in_array:
            in_array = ")" not in line
            continue
        if re.search(r"=\($", line.strip()) or (re.search(r"=\(", line) and ")" not in line):
            in_array = True
            continue
        heredoc = re.search(r"<<-?'?(\w+)'?", line)
        if heredoc:
            heredoc_end = heredoc.group(1)
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(_NOT_COMMANDS.sub(" ", _unquoted(pending + line)))
        pending = ""
    return lines


def shell_commands(script: Path, seen: set[Path]) -> set[str]:
    """Commands a shell script runs, and those of the repository scripts it runs in turn."""
    if script in seen or not script.is_file():
        return set()
    seen.add(script)
    text = script.read_text(encoding="utf-8")
    functions = set(re.findall(r"^\s*([\w-]+)\s*\(\)\s*\{", text, re.MULTILINE))
    noise = _shell_noise() | functions
    commands: set[str] = set()
    for line in _logical_lines(text):
        for match in _SEGMENT.finditer(line):
            word = match.group(1)
            if "=" in word or word in noise or not _COMMAND_WORD.match(word):
                continue
            if line[match.end() : match.end() + 1] == ")":
                continue  # a case pattern, not a command
            if word.endswith(".sh"):
                continue  # another script: followed below
            commands.add(word)
    for relative in set(_SCRIPT_REFERENCE.findall(text)):
        for candidate in (ROOT / relative, script.parent / relative, ROOT / "scripts" / relative):
            if candidate.is_file() and ROOT in candidate.resolve().parents:
                commands |= shell_commands(candidate.resolve(), seen)
    return commands


def suite_scripts(test_files: list[Path]) -> list[Path]:
    """Shell scripts the tests run: every *.sh named in a string literal of a test file."""
    scripts: set[Path] = set()
    for path in test_files:
        for name in re.findall(r"[\"']([\w./-]+\.sh)[\"']", path.read_text(encoding="utf-8")):
            for base in (ROOT / "scripts", ROOT):
                if (base / name).is_file():
                    scripts.add((base / name).resolve())
    return sorted(scripts)


def suite_tools() -> list[tuple[str, ...]]:
    """Every external command of the suite, as groups of alternatives (one name: that one)."""
    test_files = sorted((ROOT / "tests").rglob("*.py"))
    commands, alternatives = python_commands(test_files)
    seen: set[Path] = set()
    for script in suite_scripts(test_files):
        commands |= shell_commands(script, seen)
    commands.update(IN_STRINGS)
    groups = {(c,) for c in commands} | set(alternatives)
    return sorted(groups)


if __name__ == "__main__":
    for group in suite_tools():
        print(" | ".join(group))
