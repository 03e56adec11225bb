-- A failed attempt (processor error, timeout or lost lease) moves a job from
-- active to delayed with exponential backoff and jitter, or to the dead
-- letter set once it has used max_attempts. Shared by fail and reclaim.
-- Needs: record.lua, events.lua.
-- keys: {jobs, active, delayed, dead, events, stats, leases}
local function fail_attempt(k, rec, err, now, maxlen, base_ms, cap_ms, jitter)
  rec.error = err
  redis.call('ZREM', k.active, rec.id)
  redis.call('HDEL', k.leases, rec.id)
  redis.call('HINCRBY', k.stats, 'failed', 1)
  if (rec.attempts or 0) >= rec.max_attempts then
    rec.status = 'dead_letter'
    rec.completed_at = now
    rec.next_retry_at = nil
    redis.call('ZADD', k.dead, now, rec.id)
    redis.call('HINCRBY', k.stats, 'dead_lettered', 1)
    save_record(k.jobs, rec)
    emit(k.events, maxlen, rec, 'dead_letter', now)
    return 'dead_letter'
  end
  local exp = math.min((rec.attempts or 1) - 1, 60)
  local delay = math.min(cap_ms, base_ms * (2 ^ exp))
  -- jitter in [0, 1): spread retries over the top fifth of the delay
  delay = math.floor(delay * (0.8 + 0.2 * jitter))
  rec.status = 'retrying'
  rec.next_retry_at = now + delay
  redis.call('ZADD', k.delayed, rec.next_retry_at, rec.id)
  redis.call('HINCRBY', k.stats, 'retry', 1)
  save_record(k.jobs, rec)
  emit(k.events, maxlen, rec, 'retrying', now)
  return 'retrying'
end
