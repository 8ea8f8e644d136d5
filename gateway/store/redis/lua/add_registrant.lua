-- Add a registrant unless its email is known, in one step.
-- KEYS: email index key, registrant hash, registrants (ids in creation order).
-- ARGV: registrant key prefix, id, then the hash's fields and values.
-- Returns {1, {}} when added, {0, <the known registrant's hash>} when the email is known.
local existing = redis.call('GET', KEYS[1])
if existing then return {0, redis.call('HGETALL', ARGV[1] .. existing)} end
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('registrant id in use') end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('RPUSH', KEYS[3], ARGV[2])
return {1, {}}
