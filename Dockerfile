# syntax=docker/dockerfile:1
# The files-gateway image (issue #7). docs/deploy.md tells how to run it.
#
#   docker build -t files-gateway .
#   docker run --read-only --tmpfs /tmp -v files-gateway-data:/var/lib/files-gateway \
#     -p 8080:8080 -p 9090:9090 files-gateway
#
# The root filesystem may be read-only. The only writable paths are these volumes:
#   /tmp                    upload spool (FILES_GATEWAY_SPOOL_DIR) and TMPDIR: a tmpfs or emptyDir
#   /var/lib/files-gateway  the SQLite store; unused with a Redis store (FILES_GATEWAY_STORE)
#
# tests/test_container_contract.py builds and runs these instructions without a Docker engine.
# It knows FROM, WORKDIR, COPY, RUN, ENV, USER, EXPOSE, VOLUME, HEALTHCHECK and ENTRYPOINT, and
# fails on any other instruction, so that nothing here goes untested.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY deploy/install.sh ./deploy/install.sh
RUN sh deploy/install.sh /src /opt/files-gateway

# The final stage gets the venv and nothing else from the build: no compiler, no pip in the venv.
FROM python:3.11-slim-bookworm
COPY --from=build /opt/files-gateway /opt/files-gateway
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/files-gateway
ENV PATH=/opt/files-gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    FILES_GATEWAY_LISTEN=0.0.0.0:8080 \
    FILES_GATEWAY_ADMIN_LISTEN=0.0.0.0:9090 \
    FILES_GATEWAY_STORE=sqlite:////var/lib/files-gateway/files-gateway.db \
    FILES_GATEWAY_SPOOL_DIR=/tmp
WORKDIR /var/lib/files-gateway
# A fixed uid, so that runAsNonRoot can verify it and volumes can be owned by it.
USER 10001:10001
EXPOSE 8080 9090
VOLUME ["/tmp", "/var/lib/files-gateway"]
# The image has no curl: ask /healthz with Python, on the port FILES_GATEWAY_ADMIN_LISTEN names.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h, _, p = os.environ.get('FILES_GATEWAY_ADMIN_LISTEN', '127.0.0.1:9090').rpartition(':'); h = h.strip('[]'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; u.urlopen('http://' + ('[' + h + ']' if ':' in h else h) + ':' + p + '/healthz', timeout=2)"]
ENTRYPOINT ["files-gateway", "serve"]
