-- After the epoch_start and note_change preludes.
-- KEYS: registrant's zset, expiry zset, access-epoch, access-log.
-- ARGV: session key prefix, registrant id.
-- Returns the ids of the sessions ended, oldest first.
local ended = {}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local sid = members[i]
  local f = redis.call('HMGET', ARGV[1] .. sid, 'registrant_id', 'n')
  if not f[1] then
    redis.call('ZREM', KEYS[2], sid)
  elseif f[1] == ARGV[2] then
    redis.call('DEL', ARGV[1] .. sid)
    redis.call('ZREM', KEYS[2], sid)
    ended[#ended + 1] = {sid, tonumber(members[i + 1]), tonumber(f[2])}
  end
end
redis.call('DEL', KEYS[1])
table.sort(ended, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local ids = {}
for i, e in ipairs(ended) do ids[i] = e[1] end
if #ids > 0 then note_change(KEYS[3], KEYS[4], ARGV[2]) end
return ids
