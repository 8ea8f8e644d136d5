#!/bin/sh
# The Sentinel beside each Redis: watches the primary (a quorum of 2 of the 3 decides
# it is down; a failover in ~2-5 s, as tests/faults/test_sentinel_failover.py measures
# with the same settings). Sentinel rewrites its file, so it starts from a fresh one.
set -eu
. "$(dirname "$0")/common.sh"
conf="${SENTINEL_DIR:-/tmp}/sentinel.conf"
now=$(primary)
{
    echo "port $SENTINEL_PORT"
    echo "sentinel resolve-hostnames yes"
    echo "sentinel announce-hostnames yes"
    echo "sentinel announce-ip $SENTINEL_HOST"
    echo "sentinel announce-port $SENTINEL_PORT"
    echo "sentinel monitor $REDIS_MASTER_NAME $now 2"
    echo "sentinel down-after-milliseconds $REDIS_MASTER_NAME ${SENTINEL_DOWN_AFTER_MS:-2000}"
    echo "sentinel failover-timeout $REDIS_MASTER_NAME ${SENTINEL_FAILOVER_TIMEOUT_MS:-10000}"
    echo "sentinel parallel-syncs $REDIS_MASTER_NAME 1"
    if [ -n "${REDIS_PASSWORD:-}" ]; then
        echo "sentinel auth-pass $REDIS_MASTER_NAME $REDIS_PASSWORD"
    fi
} >"$conf"
exec redis-sentinel "$conf"
