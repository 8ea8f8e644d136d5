-- A prelude, not a script: prepended to the scripts that read or bump the access epoch.
-- A missing epoch (a new Redis, or one that lost its data) starts at the server's clock in
-- microseconds (exact in Lua, < 2^53), so a replica that knew the old one is told apart.
local function epoch_start(epoch_key)
  local t = redis.call('TIME')
  local start = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', epoch_key, start)
  return tonumber(start)
end
