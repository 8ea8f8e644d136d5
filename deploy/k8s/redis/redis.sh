#!/bin/sh
# One Redis of the StatefulSet: the primary if the Sentinels name it (or, on the set's
# first start, if it is pod 0), else a replica of the primary they name. AOF every
# second and noeviction, as the single Redis of compose.yaml.
set -eu
. "$(dirname "$0")/common.sh"
set -- --port "$REDIS_PORT" --dir "${REDIS_DIR:-/data}" \
    --appendonly yes --appendfsync everysec \
    --maxmemory "${REDIS_MAXMEMORY:-1gb}" --maxmemory-policy noeviction \
    --replica-announce-ip "$REDIS_HOST" --replica-announce-port "$REDIS_PORT"
if [ -n "${REDIS_PASSWORD:-}" ]; then
    set -- "$@" --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD"
fi
now=$(primary)
if [ "$now" != "$REDIS_HOST $REDIS_PORT" ]; then
    set -- "$@" --replicaof "${now% *}" "${now#* }"
fi
exec redis-server "$@"
