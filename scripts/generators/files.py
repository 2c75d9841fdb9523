"""Write generated files, or with --check list those that differ from what would be generated
(exit 1): the one command-line shape of scripts/generate.py and scripts/generate_mixin.py."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path

# Each file (relative to the repository) and what makes its new text from its current one (most
# ignore it; a doc with a generated region keeps the rest).
Targets = Mapping[str, Callable[[str], str]]


def stale_files(root: Path, targets: Targets) -> dict[Path, str]:
    """Each file whose text differs from what is generated, with the generated text."""
    stale = {}
    for name, render in targets.items():
        path = root / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        wanted = render(current)
        if wanted != current:
            stale[path] = wanted
    return stale


def main(root: Path, targets: Targets, command: str, description: str) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args()
    stale = stale_files(root, targets)
    for path, text in stale.items():
        name = path.relative_to(root)
        if args.check:
            print(f"stale: {name}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    if args.check and stale:
        print(f"regenerate with: {command}")
        return 1
    return 0
