-- A prelude, not a script (after epoch_start.lua): prepended to the scripts that change access.
-- An access change, logged by the script that makes it: bump the epoch, log who, trim.
-- The log holds the last ACCESS_LOG_SIZE changes (gateway.store, put in when loaded).
local function note_change(epoch_key, log_key, registrant)
  if redis.call('EXISTS', epoch_key) == 0 then epoch_start(epoch_key) end
  local epoch = redis.call('INCR', epoch_key)
  redis.call('RPUSH', log_key, string.format('%d', epoch) .. ' ' .. registrant)
  redis.call('LTRIM', log_key, -$ACCESS_LOG_SIZE, -1)
end
