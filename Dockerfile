# syntax=docker/dockerfile:1
#
# One Dockerfile for the four services. Pick the service with the SERVICE build arg:
#
#   docker build --build-arg SERVICE=trades -t trading-journal/trades .
#   docker run -p 8001:8001 trading-journal/trades        # python -m tj_trades.main on PORT
#
# SERVICE=gateway|trades|imports|billing installs only that workspace member and its locked
# dependencies (`uv sync --package tj-<service>`): each image carries only what its process
# imports (the gateway's argon2/JWT stack is not in the trades image), an advisory in one
# service's dependencies rebuilds only the images that contain it, and every image still has
# tj_common, so `python -m tj_common.ops migrate --service <own service>` and
# `python -m tj_common.ops bootstrap` run from the service's own image (as the Kubernetes
# migration Jobs do). SERVICE=all installs every member: docker-compose's one-shot `bootstrap`
# uses it to create topics and run all four services' migrations in one container.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

# The uv that wrote uv.lock; installed from PyPI by pip so no other download source is involved.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ARG SERVICE=gateway
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Third-party dependencies first, from the lock file and the members' pyproject files only, so
# this layer is reused until a dependency changes.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/pyproject.toml
COPY services/gateway/pyproject.toml services/gateway/pyproject.toml
COPY services/trades/pyproject.toml services/trades/pyproject.toml
COPY services/imports/pyproject.toml services/imports/pyproject.toml
COPY services/billing/pyproject.toml services/billing/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ "$SERVICE" = "all" ]; then select="--all-packages"; else select="--package tj-$SERVICE"; fi; \
    uv sync --frozen --no-dev --no-install-workspace $select

# Then the workspace code, installed as real (non-editable) packages into the same venv.
COPY libs ./libs
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ "$SERVICE" = "all" ]; then select="--all-packages"; else select="--package tj-$SERVICE"; fi; \
    uv sync --frozen --no-dev --no-editable $select \
    && /app/.venv/bin/python -c "import tj_common.settings"

# The trades service's engines compiled with mypyc (tj_trades/_native.py, ~15 % less CPU for a large
# import). The compiler and mypy stay in this stage: the runtime needs only the build, which
# tj_trades uses while it matches the installed sources. Should it fail, the image runs the same
# engines as pure Python (an empty /app/native).
RUN --mount=type=cache,target=/root/.cache/uv \
    mkdir -p /app/native \
    && if [ "$SERVICE" = "trades" ] || [ "$SERVICE" = "all" ]; then \
      ( apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null \
        && versions=$(uv export --frozen --only-dev --no-hashes --no-emit-workspace | grep -E '^(mypy|setuptools)==') \
        && uv venv -q /tools && uv pip install -q --python /tools/bin/python $versions \
        && PYTHONPATH=/tools/lib/python3.11/site-packages TJ_NATIVE=0 \
           /app/.venv/bin/python -m tj_trades.native_build build /app/native \
      ) || { echo "warning: no compiled build; the trades engines run as pure Python"; rm -rf /app/native; mkdir -p /app/native; }; \
    fi

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE=gateway
ENV SERVICE=${SERVICE} \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/app/.venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    ENVIRONMENT=production \
    TJ_NATIVE_DIR=/app/native
# HOST=0.0.0.0: settings default to 127.0.0.1, unreachable through a published port or a probe.
# ENVIRONMENT=production by default: an image started without real secrets refuses to run
# (settings refuse default secrets in production). docker-compose sets ENVIRONMENT=development.

RUN groupadd --system --gid 1001 tj \
    && useradd --system --uid 1001 --gid 1001 --home-dir /app --no-create-home --shell /usr/sbin/nologin tj

WORKDIR /app
# Only the venv: the service and tj_common are installed in it as regular packages, their Alembic
# migrations included as package data (tj_common.migrations finds them beside the package).
COPY --from=builder --chown=root:root /app/.venv /app/.venv
COPY --from=builder --chown=root:root /app/native /app/native

USER 1001:1001

# Each service listens on PORT (settings: PORT or SERVICE_PORT); unset, it takes its entry in
# tj_common.settings.SERVICE_PORTS: gateway 8000, trades 8001, imports 8002, billing 8003.
EXPOSE 8000 8001 8002 8003

# /health answers 200 `healthy` or 503 `degraded` (DESIGN §7). The slim image has no curl, so the
# probe is Python's standard library, reading the same port the service chose.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; from tj_common.settings import SERVICE_PORTS; port = os.environ.get('PORT') or os.environ.get('SERVICE_PORT') or SERVICE_PORTS.get(os.environ['SERVICE'], 8000); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4).status == 200 else 1)"]

# `exec` replaces the shell, so SIGTERM reaches the service itself, not a shell in between.
CMD ["sh", "-c", "exec python -m tj_${SERVICE}.main"]
