-- After the epoch_start and note_change preludes.
-- KEYS: registrant hash, access-epoch, access-log. ARGV: revoked ("1"/"0"), registrant id.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'link_version', 1)
redis.call('HSET', KEYS[1], 'revoked', ARGV[1])
note_change(KEYS[2], KEYS[3], ARGV[2])
return redis.call('HGETALL', KEYS[1])
