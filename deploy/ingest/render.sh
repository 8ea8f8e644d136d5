#!/bin/sh
# Render the ingest's nginx.conf (ingest.conf) with its ${GW_*} placeholders filled from
# the environment (envsubst). Used by the ingest container at start and by
# tests/e2e/test_ingest.py with test ports and folders.
#
#   render.sh [SRC OUT]     (defaults: /etc/nginx/ingest.conf.template /etc/nginx/nginx.conf)
set -eu
src=${1:-/etc/nginx/ingest.conf.template}
out=${2:-/etc/nginx/nginx.conf}

: "${GW_RTMP_PORT:=1935}"
: "${GW_GATEWAY_URL:=http://gateway-1:8000}"
: "${GW_LIVE_DIR:=/srv/hls/live}"
: "${GW_RTMP_MODULE:=/usr/lib/nginx/modules/ngx_rtmp_module.so}"
: "${GW_INGEST_RUN:=/run}"
: "${GW_INGEST_LOG:=stderr}"
: "${GW_HLS_HTTP_PORT:=8080}"
export GW_RTMP_PORT GW_GATEWAY_URL GW_LIVE_DIR GW_RTMP_MODULE GW_INGEST_RUN GW_INGEST_LOG GW_HLS_HTTP_PORT

case "$GW_GATEWAY_URL" in
    http://*) ;;
    *) echo "render.sh: GW_GATEWAY_URL must be http://host:port (nginx-rtmp calls it without TLS)" >&2; exit 2 ;;
esac

mkdir -p "$(dirname "$out")" "$GW_LIVE_DIR" "$GW_INGEST_RUN"
envsubst '${GW_RTMP_PORT} ${GW_GATEWAY_URL} ${GW_LIVE_DIR} ${GW_RTMP_MODULE} ${GW_INGEST_RUN} ${GW_INGEST_LOG} ${GW_HLS_HTTP_PORT}' \
    <"$src" >"$out"
if grep -qE '\$\{GW_[A-Za-z0-9_]+\}' "$out"; then
    echo "render.sh: $out: unset $(grep -o '\${GW_[A-Za-z0-9_]*}' "$out" | sort -u | tr '\n' ' ')" >&2
    exit 2
fi
echo "render.sh: ingest config rendered into $out (RTMP :$GW_RTMP_PORT, HLS into $GW_LIVE_DIR)"
