-- KEYS: value. ARGV: whether a value is expected (1/0), the expected value, the new value.
-- Returns 1 when the value was replaced, 0 when the key held something else.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
