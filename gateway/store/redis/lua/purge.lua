-- KEYS: per registrant its hash and its email index key. ARGV: the ids.
-- Purges each one not purged meanwhile; returns the ids purged.
local purged = {}
for i, id in ipairs(ARGV) do
  local reg, email = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', reg) == 1 and redis.call('HGET', reg, 'purged') ~= '1' then
    redis.call('HSET', reg, 'email', '', 'name', '', 'organisation', '', 'purged', '1')
    if redis.call('GET', email) == id then redis.call('DEL', email) end
    purged[#purged + 1] = id
  end
end
return purged
