# Shared by redis.sh and sentinel.sh (sourced): where this pod's Redis and Sentinel are,
# where the others are, and which Redis is the primary now. The defaults are the
# StatefulSet's (pod N is stream-gateway-redis-N.stream-gateway-redis); the variables
# let the same scripts run on one machine (tests/deploy/test_k8s_redis.py).
: "${REDIS_SERVICE:=stream-gateway-redis}"
: "${REDIS_PORT:=6379}"
: "${SENTINEL_PORT:=26379}"
: "${REDIS_HOST:=$(hostname).$REDIS_SERVICE}"
: "${SENTINEL_HOST:=$REDIS_HOST}"
: "${REDIS_FIRST:=$REDIS_SERVICE-0.$REDIS_SERVICE $REDIS_PORT}"  # pod 0's host and port
: "${SENTINELS:=$REDIS_SERVICE-0.$REDIS_SERVICE:26379 $REDIS_SERVICE-1.$REDIS_SERVICE:26379 $REDIS_SERVICE-2.$REDIS_SERVICE:26379}"
: "${REDIS_MASTER_NAME:=mymaster}"

# The primary's "host port": as the Sentinels name it (after a failover, a restarted
# pod 0 must come back as a replica of the promoted one, not as a second primary), or,
# when no Sentinel answers (the very first start of the set), pod 0. A Sentinel that has
# not heard of a failover yet may still name this pod: any other answer wins over that
# (and should all be stale, the Sentinels turn this pod into a replica once they see it).
primary() {
    mine=""
    for sentinel in $SENTINELS; do
        answer=$(timeout 2 redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --raw \
            sentinel get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null || true)
        host=$(printf '%s\n' "$answer" | sed -n 1p)
        port=$(printf '%s\n' "$answer" | sed -n 2p)
        case "$port" in
            '' | *[!0-9]*) continue ;;  # no answer, or an error in words
        esac
        if [ "$host $port" = "$REDIS_HOST $REDIS_PORT" ]; then
            mine="$host $port"
        else
            echo "$host $port"
            return
        fi
    done
    echo "${mine:-$REDIS_FIRST}"
}
