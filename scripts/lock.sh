#!/usr/bin/env bash
# Regenerate the hashed lock files from their inputs (needs the package index; uv comes with
# scripts/setup.sh's .venv). Run it after changing pyproject.toml's dependencies or a
# requirements-*.txt file; tests/lint/test_supply_chain.py fails while a lock is stale.
#
#   requirements-runtime.lock  the agent's runtime dependencies (pyproject [project.dependencies]
#                              and the web extra: bcrypt, which basic auth needs, ships with the
#                              image and the role's wheelhouse),
#                              for every Python from 3.9 and every platform: the hash of every
#                              wheel and of the sdist of each pinned version
#   requirements-build.lock    requirements-build.in: what building from source needs, setuptools
#                              (the agent's build backend) and Cython (PyYAML's sdist, on a host
#                              whose Python or machine has no PyYAML wheel)
#   requirements-dev.lock      the test venv (extras test, web, notify and requirements-dev.txt)
#                              for Python 3.11 and later (Debian 12 and 13), runtime and build
#                              dependencies at the versions of the two locks above
#   requirements-release.lock  requirements-release.in: what the release workflow installs
#
# Used with pip's --require-hashes by the role's wheelhouse (roles/aiops_agent/files/
# build_wheelhouse.py), the Dockerfile, scripts/setup.sh and .github/workflows/release.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}
[ -x "$uv" ] || uv=$(command -v uv) || { echo "lock: uv not found: run scripts/setup.sh" >&2; exit 2; }

# --universal: one file for every Python and platform, forked by markers where a version
# differs; the header records the command, so a reader knows how the file was made.
compile=("$uv" pip compile --quiet --universal --generate-hashes --no-strip-markers
         --custom-compile-command scripts/lock.sh)
"${compile[@]}" --python-version 3.9 -o requirements-runtime.lock --extra notify --extra web pyproject.toml
"${compile[@]}" --python-version 3.9 -o requirements-build.lock requirements-build.in
"${compile[@]}" --python-version 3.11 --extra test --extra web --extra notify \
    -c requirements-runtime.lock -c requirements-build.lock \
    -o requirements-dev.lock pyproject.toml requirements-dev.txt requirements-build.in
"${compile[@]}" --python-version 3.11 -o requirements-release.lock requirements-release.in
