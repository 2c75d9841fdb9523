#!/usr/bin/env bash
# Build the agent image from the repo's Dockerfile on the locally made Debian base
# (scripts/build-python-base.sh), tagged localhost/aiops-agent:<version> (the image converge.yml
# names; AIOPS_IMAGE_REPOSITORY changes the repository for both) and localhost/aiops-agent:src-<hash>. Cached by that hash of the build inputs (base
# image, Dockerfile, .dockerignore, pyproject.toml, README.md, LICENSE, the locks, agent/): unchanged
# inputs, no build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=scripts/podman-env.sh
source scripts/podman-env.sh

base="${AIOPS_BASE_IMAGE:-localhost/aiops-python-base:bookworm}"
repository="${AIOPS_IMAGE_REPOSITORY:-localhost/aiops-agent}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)"

bash scripts/build-python-base.sh "$base"

hash="$(
    {
        podman image inspect --format '{{.Id}}' "$base"
        find Dockerfile .dockerignore pyproject.toml README.md LICENSE requirements-runtime.lock \
            requirements-build.lock agent -type f \
            ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -name '*.pyc' 2>/dev/null \
            | LC_ALL=C sort | xargs sha256sum
    } | sha256sum | cut -c1-12
)"
if podman image exists "$repository:src-$hash"; then
    podman tag "$repository:src-$hash" "$repository:$version"
    echo "build-image: $repository:src-$hash exists (inputs unchanged), tagged $version"
    exit 0
fi

build_args=(--format docker --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version"
    --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
# A TLS-intercepting proxy's CA (as on this project's machines) reaches pip in the builder
# stage as a build secret; it is not stored in any layer.
ca_bundle="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$ca_bundle" ] && build_args+=(--secret "id=pip_cert,src=$ca_bundle")

podman build "${build_args[@]}" -t "$repository:src-$hash" -t "$repository:$version" . \
    >"${TMPDIR:-/tmp}/aiops-agent-image-build.log" 2>&1 || {
    tail -n 40 "${TMPDIR:-/tmp}/aiops-agent-image-build.log" >&2
    echo "build-image: podman build failed" >&2
    exit 1
}
# Keep one cached build: remove the older src-* builds.
podman image ls --format '{{.Repository}}:{{.Tag}}' "$repository" | grep ":src-" \
    | grep -v ":src-$hash$" | xargs -r -n 1 podman rmi >/dev/null 2>&1 || true
echo "build-image: built $repository:src-$hash and $repository:$version"
