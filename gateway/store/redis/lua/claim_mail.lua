-- Mail queue. KEYS: mail-dedupe, mail-seq, mail-jobs, mail-open, mail-pending, mail-sending.
-- ARGV: job hash prefix, order prefix length, now (us), worker, claimed_until (iso),
--       claimed_until (us), the job id or ''. (Times go back to Redis as the ARGV strings:
--       Lua would print a number of microseconds in %.14g, losing digits.)
-- Counts the due jobs, then walks mail-open in creation order for at most that many
-- members; if none of those is due, the oldest due job is the least due member.
-- Returns the claimed job's hash, or false when none is due.
local now = tonumber(ARGV[3])
local function due(member)
  local at = redis.call('ZSCORE', KEYS[5], member) or redis.call('ZSCORE', KEYS[6], member)
  return at and tonumber(at) <= now
end
local chosen
if ARGV[7] ~= '' then
  chosen = redis.call('HGET', ARGV[1] .. ARGV[7], 'member')
  if not chosen or not due(chosen) then return false end
else
  local count = redis.call('ZCOUNT', KEYS[5], '-inf', ARGV[3])
    + redis.call('ZCOUNT', KEYS[6], '-inf', ARGV[3])
  if count == 0 then return false end
  local start = 0
  while not chosen and start < count do
    local stop = math.min(count, start + 32) - 1
    for _, member in ipairs(redis.call('ZRANGE', KEYS[4], start, stop)) do
      if due(member) then
        chosen = member
        break
      end
    end
    start = stop + 1
  end
  if not chosen then
    for i = 5, 6 do
      for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[3])) do
        if not chosen or member < chosen then chosen = member end
      end
    end
  end
end
local key = ARGV[1] .. string.sub(chosen, tonumber(ARGV[2]) + 1)
redis.call('ZREM', KEYS[5], chosen)
redis.call('ZADD', KEYS[6], ARGV[6], chosen)
redis.call('HSET', key, 'state', 'sending', 'claimed_by', ARGV[4], 'claimed_until', ARGV[5])
redis.call('HINCRBY', key, 'attempts', 1)
return redis.call('HGETALL', key)
