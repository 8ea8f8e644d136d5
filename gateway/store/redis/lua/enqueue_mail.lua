-- Mail queue. KEYS[1..6]: mail-dedupe, mail-seq, mail-jobs, mail-open, mail-pending,
-- mail-sending (as every mail script); KEYS[7]: the job's hash, KEYS[8]: its registrant's zset.
-- ARGV: job hash prefix, dedupe field, id, created_at order prefix, created (us), state,
--       next_attempt_at (us), claimed_until (us), then the hash's fields and values.
-- Returns {1, {}} when queued, {0, <the open job's hash>} when an equal job is open.
local existing = redis.call('HGET', KEYS[1], ARGV[2])
if existing then
  local state = redis.call('HGET', ARGV[1] .. existing, 'state')
  if state == 'pending' or state == 'sending' then
    return {0, redis.call('HGETALL', ARGV[1] .. existing)}
  end
end
if redis.call('EXISTS', KEYS[7]) == 1 then return redis.error_reply('mail job id in use') end
local member = ARGV[4] .. string.format('%012d', redis.call('INCR', KEYS[2])) .. ARGV[3]
redis.call('HSET', KEYS[7], 'member', member, unpack(ARGV, 9))
redis.call('ZADD', KEYS[3], ARGV[5], member)
redis.call('ZADD', KEYS[8], ARGV[5], member)
if ARGV[6] == 'pending' or ARGV[6] == 'sending' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[4], ARGV[5], member)
  if ARGV[6] == 'pending' then
    redis.call('ZADD', KEYS[5], ARGV[7], member)
  else
    redis.call('ZADD', KEYS[6], ARGV[8], member)
  end
end
return {1, {}}
