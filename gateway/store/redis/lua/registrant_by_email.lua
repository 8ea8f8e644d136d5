-- KEYS: email index key. ARGV: registrant key prefix. Returns the hash, or {} if unknown.
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. id)
