-- After the epoch_start and note_change preludes.
-- KEYS: registrant hash, access-epoch, access-log. ARGV: version, revoked ("1"/"0"), id.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'link_version')) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'link_version', ARGV[1], 'revoked', ARGV[2])
note_change(KEYS[2], KEYS[3], ARGV[3])
return 1
