-- KEYS: registrants. ARGV: registrant key prefix. Returns every hash, in creation order.
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. id)
end
return out
