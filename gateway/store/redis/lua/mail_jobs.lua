-- KEYS: mail-jobs or a registrant's zset. ARGV: job hash prefix, order prefix length, state or ''.
-- Returns the jobs' hashes in creation order.
local out = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. string.sub(member, tonumber(ARGV[2]) + 1)
  if ARGV[3] == '' or redis.call('HGET', key, 'state') == ARGV[3] then
    out[#out + 1] = redis.call('HGETALL', key)
  end
end
return out
