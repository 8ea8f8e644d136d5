-- After the epoch_start and note_change preludes. A link change: a reissue (a new link
-- version) or a revocation set or lifted (the same link); either counts a revision.
-- KEYS: registrant hash, access-epoch, access-log.
-- ARGV: "1" to bump link_version (else "0"), revoked ("1"/"0"), registrant id.
-- Returns the registrant's hash, or false when unknown.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('HEXISTS', KEYS[1], 'revision') == 0 then  -- stored before revisions
  redis.call('HSET', KEYS[1], 'revision', redis.call('HGET', KEYS[1], 'link_version'))
end
redis.call('HINCRBY', KEYS[1], 'revision', 1)
if ARGV[1] == '1' then redis.call('HINCRBY', KEYS[1], 'link_version', 1) end
redis.call('HSET', KEYS[1], 'revoked', ARGV[2])
note_change(KEYS[2], KEYS[3], ARGV[3])
return redis.call('HGETALL', KEYS[1])
