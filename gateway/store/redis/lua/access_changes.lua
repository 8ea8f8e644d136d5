-- After the epoch_start prelude.
-- KEYS: access-epoch, access-log. ARGV: since. Returns {epoch} when there is nothing to
-- list (no change, or `since` out of the log's reach), else {epoch, {entries after since}}.
-- The log holds the last ACCESS_LOG_SIZE changes (gateway.store, put in when loaded).
local epoch = tonumber(redis.call('GET', KEYS[1]) or epoch_start(KEYS[1]))
local since = tonumber(ARGV[1])
if since < 0 or since >= epoch or epoch - since > $ACCESS_LOG_SIZE then return {epoch} end
return {epoch, redis.call('LRANGE', KEYS[2], since - epoch, -1)}
