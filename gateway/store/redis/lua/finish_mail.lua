-- Mail queue. KEYS[1..6]: mail-dedupe, mail-seq, mail-jobs, mail-open, mail-pending,
-- mail-sending; KEYS[7]: the job's hash.
-- ARGV: state, error, sent_at (iso), next_attempt_at (iso, us).
-- Returns the job's hash, or false when the job is unknown.
local f = redis.call('HMGET', KEYS[7], 'member', 'dedupe', 'created_us')
local member = f[1]
if not member then return false end
redis.call('ZREM', KEYS[5], member)
redis.call('ZREM', KEYS[6], member)
redis.call('HSET', KEYS[7], 'state', ARGV[1], 'last_error', ARGV[2], 'claimed_by', '',
  'claimed_until', '')
if ARGV[1] == 'sent' then redis.call('HSET', KEYS[7], 'sent_at', ARGV[3]) end
if ARGV[1] == 'pending' then
  redis.call('HSET', KEYS[7], 'next_attempt_at', ARGV[4])
  redis.call('ZADD', KEYS[5], ARGV[5], member)
  redis.call('ZADD', KEYS[4], f[3], member)
  redis.call('HSETNX', KEYS[1], f[2], redis.call('HGET', KEYS[7], 'id'))
else
  redis.call('ZREM', KEYS[4], member)
  if redis.call('HGET', KEYS[1], f[2]) == redis.call('HGET', KEYS[7], 'id') then
    redis.call('HDEL', KEYS[1], f[2])
  end
end
return redis.call('HGETALL', KEYS[7])
