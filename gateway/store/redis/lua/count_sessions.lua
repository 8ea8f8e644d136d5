-- KEYS: expiry zset. ARGV: session key prefix, now (microseconds).
-- Counts the sessions not expired at now; drops the members of sessions ended meanwhile.
local now, count = tonumber(ARGV[2]), 0
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  if redis.call('EXISTS', ARGV[1] .. members[i]) == 0 then
    redis.call('ZREM', KEYS[1], members[i])
  elseif tonumber(members[i + 1]) > now then
    count = count + 1
  end
end
return count
