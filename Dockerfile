# aiops-agent container image.
#
#   podman build -t aiops-agent:dev .                       # official python:3.11-slim-bookworm
#   podman build --build-arg BASE_IMAGE=localhost/aiops-python-base:bookworm -t aiops-agent:dev .
#
# The base only needs `python3` on PATH with the venv module: the official image has it at
# /usr/local/bin/python3, Debian's python3 + python3-venv at /usr/bin/python3; both work because
# every step calls `python3` from PATH and then only the virtualenv's own interpreter.
# Runs as UID/GID 65532 (the "nonroot" ID of distroless and kube-prometheus images), exec form
# only: no shell is needed to start or health-check the agent.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- builder: a wheelhouse of the agent and its locked dependencies ---------------------------
# checkov:skip=CKV_DOCKER_7: the base is the ARG above, whose default carries a version tag (3.11-slim-bookworm); checkov does not resolve ARG defaults
FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# A throwaway venv: Debian's system pip refuses to touch the system (PEP 668), a venv's pip does not.
RUN python3 -m venv /build-venv
WORKDIR /src
# README.md is the package's long description (pyproject.toml readme); the glob keeps a checkout
# without it buildable.
COPY pyproject.toml README.md* LICENSE requirements-runtime.lock requirements-build.lock ./
COPY agent/ agent/
# Every file pip fetches is checked against the locks' sha256 (--require-hashes): the build
# backend (requirements-build.lock, put where build isolation finds it instead of the index) and
# the runtime dependencies (requirements-runtime.lock). Wheels only: the official bases have them.
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (never stored in a layer):
#   podman build --secret id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt ...
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && /build-venv/bin/pip download --require-hashes --only-binary=:all: --dest /build-wheels \
        --requirement requirements-build.lock \
    && /build-venv/bin/pip wheel --no-deps --no-index --find-links /build-wheels \
        --wheel-dir /wheelhouse . \
    && /build-venv/bin/pip download --require-hashes --only-binary=:all: --dest /wheelhouse \
        --requirement requirements-runtime.lock \
    && cp requirements-runtime.lock /wheelhouse/

# ---- runtime: the wheelhouse installed into a venv, nothing else -----------------------------
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="aiops-agent" \
      org.opencontainers.image.description="Lean host-monitoring agent: node_exporter-compatible metrics, anomaly detection and alerting at the edge" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="aiops-agent" \
      org.opencontainers.image.source="https://example.invalid/aiops-agent" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

ENV PATH=/opt/aiops-agent/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Install from the builder's wheelhouse only (--no-index: nothing is fetched at this stage): the
# dependencies checked against the lock's hashes once more, then the agent's own wheel (built
# above, so no hash is known in advance) and `pip check` that nothing it needs is missing. Then
# remove pip and setuptools from the venv: the running agent installs nothing.
RUN --mount=type=bind,from=builder,source=/wheelhouse,target=/wheelhouse \
    python3 -m venv /opt/aiops-agent/venv \
    && /opt/aiops-agent/venv/bin/pip install --no-index --find-links /wheelhouse --require-hashes \
        --requirement /wheelhouse/requirements-runtime.lock \
    && /opt/aiops-agent/venv/bin/pip install --no-index --no-deps /wheelhouse/aiops_agent-*.whl \
    && /opt/aiops-agent/venv/bin/pip check \
    && /opt/aiops-agent/venv/bin/python -m pip uninstall --yes pip setuptools \
    && groupadd --gid 65532 aiops \
    && useradd --no-log-init --uid 65532 --gid 65532 --home-dir /var/lib/aiops-agent \
        --no-create-home --shell /usr/sbin/nologin aiops \
    && mkdir -p /etc/aiops-agent /var/lib/aiops-agent \
    && chown 65532:65532 /var/lib/aiops-agent \
    && chmod 0750 /var/lib/aiops-agent \
    && /opt/aiops-agent/venv/bin/aiops-agent --version

USER 65532:65532
WORKDIR /var/lib/aiops-agent
EXPOSE 9877
# Exit 0 when /healthz answers 200 (default URL http://127.0.0.1:9877/healthz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/opt/aiops-agent/venv/bin/aiops-agent", "check-health"]
ENTRYPOINT ["/opt/aiops-agent/venv/bin/aiops-agent"]
CMD ["run", "--config", "/etc/aiops-agent/config.yaml"]
