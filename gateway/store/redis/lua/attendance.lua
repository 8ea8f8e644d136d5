-- KEYS: attendance-ids. ARGV: attendance key prefix. Returns {id, {minutes...}, ...}.
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('ZRANGE', ARGV[1] .. id, 0, -1)
end
return out
