# syntax=docker/dockerfile:1
# The gateway's container image: `docker build -t stream-gateway .`
#
# Every build step is scripts/image-build.sh (Docker does not run on the
# project's machines; tests/deploy/test_image_recipe.py runs the same script
# into a clean venv and checks this file's shape), so the recipe cannot drift
# from what is tested. Three stages: hls.js from the npm registry; the venv
# with the project installed as a wheel; a slim runtime with only that venv,
# no compilers, npm or pip, running as an unprivileged user.

# 1. Front-end assets: hls.js pinned by package-lock.json.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/image-build.sh ./scripts/
RUN bash scripts/image-build.sh assets /src

# 2. The venv: the project and its dependencies from PyPI (wheels) at the versions
#    constraints.txt pins, checked.
FROM python:3.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY gateway ./gateway
COPY --from=assets /src/gateway/web/static/vendor/ ./gateway/web/static/vendor/
COPY scripts/image-build.sh ./scripts/
RUN GATEWAY_REQUIRE_HLS_JS=1 bash scripts/image-build.sh venv /src /opt/gateway

# 3. The runtime.
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway \
       --shell /usr/sbin/nologin gateway \
    && mkdir -p /etc/gateway /var/lib/gateway /var/lib/gateway-checkpoints \
    && chown gateway:gateway /var/lib/gateway /var/lib/gateway-checkpoints
COPY --from=builder /opt/gateway /opt/gateway
ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The event TOML is mounted at /etc/gateway/event.toml (read-only); whatever the
# gateway writes (audit spool, an SQLite store, the mail outbox) goes under
# /var/lib/gateway: give those keys absolute paths there (deploy/event.toml).
# Audit checkpoints belong on another volume: /var/lib/gateway-checkpoints.
VOLUME ["/var/lib/gateway", "/var/lib/gateway-checkpoints"]
WORKDIR /var/lib/gateway
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["gateway"]
CMD ["serve", "--config", "/etc/gateway/event.toml", "--host", "0.0.0.0"]
