#!/bin/sh
# Render the gateway's nginx config: every *.conf under SRC copied to OUT with
# its ${GW_*} placeholders filled from the environment (envsubst; nginx's own
# $variables are left alone). Used by the nginx container at start (mounted
# into /docker-entrypoint.d: no arguments, renders /etc/nginx/gateway-templates
# into /etc/nginx/conf.d) and by tests/deploy/test_nginx.py, which renders the
# same files with test ports and folders.
#
#   render.sh [SRC OUT]
set -eu
src=${1:-/etc/nginx/gateway-templates}
out=${2:-/etc/nginx/conf.d}

: "${GW_SERVER_NAME:=_}"
: "${GW_HTTPS_PORT:=443}"
: "${GW_HTTP_PORT:=80}"
: "${GW_TLS_CERT:=/etc/nginx/tls/fullchain.pem}"
: "${GW_TLS_KEY:=/etc/nginx/tls/privkey.pem}"
: "${GW_CONF_DIR:=$out}"
: "${GW_UPSTREAMS:=$GW_CONF_DIR/gateway.d/upstreams.conf}"
: "${GW_ORIGIN:=file}"
: "${GW_LIVE_DIR:=/srv/hls/live}"
: "${GW_RECORDING_DIR:=/srv/hls/recording}"
: "${GW_CACHE_DIR:=/var/cache/nginx/gateway}"
: "${GW_ACCESS_LOG:=/var/log/nginx/access.log}"
if [ -z "${GW_PUBLIC_URL:-}" ]; then
    case "$GW_SERVER_NAME" in
        _ | *" "*) echo "render.sh: set GW_PUBLIC_URL (event.public_url): redirects never use the Host header" >&2; exit 2 ;;
    esac
    GW_PUBLIC_URL="https://$GW_SERVER_NAME"
fi
GW_PUBLIC_URL=${GW_PUBLIC_URL%/}
export GW_PUBLIC_URL GW_SERVER_NAME GW_HTTPS_PORT GW_HTTP_PORT GW_TLS_CERT GW_TLS_KEY GW_CONF_DIR \
    GW_UPSTREAMS GW_ORIGIN GW_LIVE_DIR GW_RECORDING_DIR GW_CACHE_DIR GW_ACCESS_LOG

case "$GW_ORIGIN" in
    file | http) ;;
    *) echo "render.sh: GW_ORIGIN must be file or http, not '$GW_ORIGIN'" >&2; exit 2 ;;
esac

# Only GW_* names are substituted.
names=$(env | sed -n 's/^\(GW_[A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
mkdir -p "$out" "$GW_CACHE_DIR"
cd "$src"
find . -name '*.conf' -type f | while read -r file; do
    mkdir -p "$out/$(dirname "$file")"
    envsubst "$names" <"$file" >"$out/$file"
done

# Every file nginx will read must be complete: the other origin kind's file may
# keep its placeholders (it is not included).
other=http
[ "$GW_ORIGIN" = http ] && other=file
left=$(grep -lE '\$\{GW_[A-Za-z0-9_]+\}' $(find "$out" -name '*.conf' -type f ! -name "segments-$other.conf") || true)
if [ -n "$left" ]; then
    for file in $left; do
        echo "render.sh: $file: unset $(grep -o '\${GW_[A-Za-z0-9_]*}' "$file" | sort -u | tr '\n' ' ')" >&2
    done
    exit 2
fi

# In the official nginx image the stock site would answer port 80 too.
if [ $# -eq 0 ] && [ -f "$out/default.conf" ]; then
    rm -f "$out/default.conf"
fi
echo "render.sh: nginx config for the gateway rendered into $out (origin: $GW_ORIGIN)"
