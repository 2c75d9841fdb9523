"""Unpack a ttar archive: the plain-text file-tree format Prometheus' procfs and node_exporter keep
their /proc and /sys test fixtures in (a bash script, `ttar`, writes and reads it upstream).

    Directory: fixtures/sys          a directory
    Path: fixtures/sys/foo           a file; then "Lines: N" and N lines of content
    SymlinkTo: ../bar                the Path above is a symbolic link
    Mode: 644                        permissions of the entry above (octal)
    # ...                            comments between entries

In content lines a trailing "EOF" (not preceded by a backslash) means the line has no newline,
and "NULLBYTE" stands for a NUL byte; a backslash escapes either word.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_NUL_MARK = re.compile(r"(?<!\\)NULLBYTE")


class TtarError(ValueError):
    pass


def _content_line(line: str) -> str:
    """One archived content line back to its bytes (as text), per ttar's extract filter."""
    no_newline = bool(re.search(r"[^\\]EOF", line))
    text = _NUL_MARK.sub("\0", line).replace("\\NULLBYTE", "NULLBYTE")
    text = re.sub(r"([^\\])EOF", r"\1", text).replace("\\EOF", "EOF")
    return text if no_newline else text + "\n"


def _inside(destination: Path, relative: str, line_number: int) -> Path:
    target = (destination / relative).resolve()
    if target != destination and destination not in target.parents:
        raise TtarError(f"line {line_number}: path {relative!r} leaves the destination")
    return destination / relative


def extract(archive: Path, destination: Path) -> list[Path]:
    """Unpack `archive` under `destination` (created if missing); returns the paths written. Raises
    TtarError naming the line of anything it does not understand."""
    destination.mkdir(parents=True, exist_ok=True)
    destination = destination.resolve()
    written: list[Path] = []
    current: Path | None = None
    # Bytes, not read_text: universal newlines would split binary content at "\r".
    lines = archive.read_bytes().decode("utf-8", errors="surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    index = 0
    while index < len(lines):
        line, number = lines[index], index + 1
        index += 1
        keyword, _, value = line.partition(": ")
        if line.startswith("#") or not line:
            continue
        if keyword == "Directory":
            current = _inside(destination, value, number)
            current.mkdir(parents=True, exist_ok=True)
        elif keyword == "Path":
            current = _inside(destination, value, number)
            current.parent.mkdir(parents=True, exist_ok=True)
            if current.is_symlink() or current.exists():
                current.unlink()
        elif keyword == "Lines":
            if current is None or not value.isdigit():
                raise TtarError(f"{archive}:{number}: 'Lines' without a Path or a count")
            count = int(value)
            if index + count > len(lines):
                raise TtarError(f"{archive}:{number}: {count} lines announced, file ends first")
            body = "".join(_content_line(text) for text in lines[index : index + count])
            current.write_bytes(body.encode("utf-8", errors="surrogateescape"))
            written.append(current)
            index += count
        elif keyword == "SymlinkTo":
            if current is None:
                raise TtarError(f"{archive}:{number}: 'SymlinkTo' without a Path")
            os.symlink(value, current)
            written.append(current)
        elif keyword == "Mode":
            if current is None or not re.fullmatch(r"[0-7]{3,4}", value):
                raise TtarError(f"{archive}:{number}: bad 'Mode' line: {line!r}")
            if not current.is_symlink():
                # Keep directories and files readable by their owner whatever the archive says:
                # a fixture tree is test input, not a permission test.
                current.chmod(int(value, 8) | 0o600 | (0o100 if current.is_dir() else 0))
        else:
            raise TtarError(f"{archive}:{number}: unknown keyword: {line!r}")
    return written
