-- After the epoch_start and note_change preludes.
-- KEYS: registrant's zset, session key, expiry zset, seq counter, access-epoch, access-log.
-- ARGV: session key prefix, id, now, created, expires (microseconds), ttl ms, max devices,
--       then the session hash's fields and values (ARGV[9] is the registrant id).
-- Returns the ids of the sessions ended to stay within max devices, oldest first.
local now, live = tonumber(ARGV[3]), {}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local sid = members[i]
  local key = ARGV[1] .. sid
  local f = redis.call('HMGET', key, 'registrant_id', 'expires_us', 'n')
  if not f[1] then
    redis.call('ZREM', KEYS[1], sid)
    redis.call('ZREM', KEYS[3], sid)
  elseif sid == ARGV[2] or f[1] ~= ARGV[9] then
    redis.call('ZREM', KEYS[1], sid)
  elseif tonumber(f[2]) <= now then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], sid)
    redis.call('ZREM', KEYS[3], sid)
  else
    live[#live + 1] = {sid, tonumber(members[i + 1]), tonumber(f[3])}
  end
end
local n = redis.call('INCR', KEYS[4])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'n', n, unpack(ARGV, 8))
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
live[#live + 1] = {ARGV[2], tonumber(ARGV[4]), n}
table.sort(live, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local ended = {}
for i = 1, #live - math.max(0, tonumber(ARGV[7])) do
  local sid = live[i][1]
  redis.call('DEL', ARGV[1] .. sid)
  redis.call('ZREM', KEYS[1], sid)
  redis.call('ZREM', KEYS[3], sid)
  ended[#ended + 1] = sid
end
if #ended > 0 then note_change(KEYS[5], KEYS[6], ARGV[9]) end
return ended
