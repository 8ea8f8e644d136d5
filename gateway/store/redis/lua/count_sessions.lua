-- KEYS: the expiry zset, or one registrant's zset (`reg-sessions:<id>`).
-- ARGV: session key prefix, now (microseconds), "1" when KEYS[1] is a registrant's.
-- Counts the sessions not expired at now; from the expiry zset it also drops the members
-- of sessions ended meanwhile (a registrant's zset is tidied by `create_session`).
local now, count = tonumber(ARGV[2]), 0
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local key = ARGV[1] .. members[i]
  if ARGV[3] == '1' then
    local expires = redis.call('HGET', key, 'expires_us')
    if expires and tonumber(expires) > now then count = count + 1 end
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], members[i])
  elseif tonumber(members[i + 1]) > now then
    count = count + 1
  end
end
return count
