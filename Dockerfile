# The bridge's container image: `bridge run` by default; the same image runs `bridge sandbox`,
# `bridge produce` and `bridge check-config` (pass the subcommand as the container's command).
#
#   docker build -t bridge:dev .
#   docker run --rm -v "$PWD/deploy/compose/bridge.yaml:/etc/bridge/bridge.yaml:ro" \
#     -e QUICKLIZARD_CLIENT_KEY=... bridge:dev
#
# Two stages: `build` installs the locked runtime dependencies (requirements.lock) and the bridge
# wheel into a virtualenv; `runtime` copies only that virtualenv and the Avro schemas onto a fresh
# slim base and runs as an unprivileged user. Nothing at run time goes through a shell.

# Bump the Python patch release here (and only here); pin a digest too where your registry allows.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Every runtime dependency comes from the lock file (`make lock`), as wheels whose hashes it
# lists, without resolving anything else.
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps --only-binary=:all: --require-hashes \
       -r /tmp/requirements.lock

# The bridge itself, built with a pinned setuptools outside the runtime virtualenv.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN python -m pip install --no-deps setuptools==80.9.0 \
    && python -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && /opt/venv/bin/pip install --no-deps /tmp/wheels/bridge-*.whl \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="bridge" \
      org.opencontainers.image.description="Kafka order and product-view events to marketing vendors' HTTP APIs" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin bridge

COPY --from=build /opt/venv /opt/venv
COPY schemas /app/schemas

# BRIDGE__SCHEMAS_DIR is an ordinary config override (schemas_dir): the package's default points
# next to the source tree, which the image does not have.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BRIDGE__SCHEMAS_DIR=/app/schemas

WORKDIR /app
USER 10001:10001

# /metrics, /healthz and /readyz (http.port in the config).
EXPOSE 9400

# The bridge drains on SIGTERM within shutdown_deadline_s (default 25 s): give `docker stop`
# at least that long (`docker stop -t 35`, compose `stop_grace_period`).
STOPSIGNAL SIGTERM

# Slim images have no curl: the check is Python's own urllib. It follows BRIDGE__HTTP__PORT
# when the port is moved by an environment override; other commands (sandbox, produce)
# override or disable this check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BRIDGE__HTTP__PORT', '9400'), timeout=4)"]

ENTRYPOINT ["bridge"]
CMD ["run", "--config", "/etc/bridge/bridge.yaml"]
