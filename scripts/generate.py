#!/usr/bin/env python3
"""Write every file generated from the agent's config schema, or with --check list those that
differ from what would be generated (exit 1), as tests/unit/test_generated_files.py does.

    python scripts/generate.py            # after changing the schema or scripts/generators/
    python scripts/generate.py --check
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from generators import docs, role

from aiops_agent.config.example import render_example

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python scripts/generate.py"

# Each file and what makes its new text from its current one (most ignore it; a doc with a
# generated region keeps the rest).
TARGETS: dict[str, Callable[[str], str]] = {
    "config.example.yaml": lambda _current: render_example(),
    "docs/configuration.md": docs.configuration_reference,
    "docs/alerting.md": docs.alerting_default_rules,
    f"{role.ROLE}/defaults/main.yml": role.defaults_yaml,
    f"{role.ROLE}/meta/argument_specs.yml": role.argument_specs_yaml,
    f"{role.ROLE}/templates/config.yaml.j2": role.template_j2,
    f"{role.ROLE}/vars/main/variables.yml": role.variables_yaml,
}


def stale_files() -> dict[Path, str]:
    """Each file whose text differs from what is generated, with the generated text."""
    stale = {}
    for name, render in TARGETS.items():
        path = ROOT / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        wanted = render(current)
        if wanted != current:
            stale[path] = wanted
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args()
    stale = stale_files()
    for path, text in stale.items():
        name = path.relative_to(ROOT)
        if args.check:
            print(f"stale: {name}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    if args.check and stale:
        print(f"regenerate with: {COMMAND}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
