-- KEYS: registrants. ARGV: registrant key prefix, then `before` as two
-- numbers (YYYYMMDD, HHMMSSffffff: exact in Lua, and compared as numbers rather than
-- strings, whose order in Redis's Lua follows the server's locale).
-- Returns the registrants created before `before` and not purged: {id, email, ...}.
local function stamp(iso)
  return tonumber(string.sub(iso, 1, 4) .. string.sub(iso, 6, 7) .. string.sub(iso, 9, 10)),
    tonumber(string.sub(iso, 12, 13) .. string.sub(iso, 15, 16) .. string.sub(iso, 18, 19)
      .. string.sub(iso, 21, 26))
end
local day, time = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'created_at', 'email', 'purged')
  if f[1] and f[3] ~= '1' then
    local d, t = stamp(f[1])
    if d < day or (d == day and t < time) then
      out[#out + 1] = id
      out[#out + 1] = f[2]
    end
  end
end
return out
