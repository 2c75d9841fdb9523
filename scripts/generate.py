#!/usr/bin/env python3
"""Write every file generated from the agent's config schema and the benchmarks' committed results
(the README's and docs' benchmark figures), or with --check list those that differ from what would
be generated (exit 1), as tests/unit/test_generated_files.py does.

    python scripts/generate.py            # after changing the schema, a bench's results.json
                                          # or scripts/generators/
    python scripts/generate.py --check
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from generators import bench_figures, docs, files, role

from aiops_agent.config.example import render_example

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python scripts/generate.py"

TARGETS: files.Targets = {
    "config.example.yaml": lambda _current: render_example(),
    "docs/configuration.md": docs.configuration_reference,
    "docs/alerting.md": lambda current: bench_figures.alerting(
        ROOT, docs.alerting_default_rules(current)
    ),
    "README.md": partial(bench_figures.readme, ROOT),
    "bench/faults/README.md": partial(bench_figures.faults_readme, ROOT),
    f"{role.ROLE}/defaults/main.yml": role.defaults_yaml,
    f"{role.ROLE}/meta/argument_specs.yml": role.argument_specs_yaml,
    f"{role.ROLE}/templates/config.yaml.j2": role.template_j2,
    f"{role.ROLE}/vars/main/variables.yml": role.variables_yaml,
}


if __name__ == "__main__":
    sys.exit(files.main(ROOT, TARGETS, COMMAND, __doc__.splitlines()[0]))
