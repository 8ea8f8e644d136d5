-- After the epoch_start and note_change preludes.
-- KEYS: registrant hash, access-epoch, access-log. ARGV: revision, version, revoked
-- ("1"/"0"), id. Applies only when the stored revision is lower (a hash stored before
-- revisions counts its link_version). Returns 1 when changed, else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local stored = redis.call('HGET', KEYS[1], 'revision') or redis.call('HGET', KEYS[1], 'link_version')
if tonumber(stored) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'revision', ARGV[1], 'link_version', ARGV[2], 'revoked', ARGV[3])
note_change(KEYS[2], KEYS[3], ARGV[4])
return 1
