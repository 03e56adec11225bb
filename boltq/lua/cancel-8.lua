--[[
  Cancel one job that has not finished: pending | retrying | running ->
  finished as cancelled. A running job's lease is revoked here, so its
  process learns of it at its next lease renewal and stops the processor;
  anything that process writes later is stale.

  KEYS[1] jobs     KEYS[2] pending   KEYS[3] delayed   KEYS[4] active
  KEYS[5] leases   KEYS[6] finished  KEYS[7] events    KEYS[8] stats
  ARGV[1] job id   ARGV[2] now (ms)  ARGV[3] expires at (ms)   ARGV[4] events maxlen

  Returns: {1, previous status, job type} on success; {-1} unknown job;
           {-2, status} the job has already finished.
  Events: cancelled
]]
--- @include "record"
--- @include "events"

local id = ARGV[1]
local now = tonumber(ARGV[2])
local rec = load_record(KEYS[1], id)
if not rec then
  return {-1}
end
local previous = rec.status
if previous == 'pending' then
  redis.call('ZREM', KEYS[2], id)
elseif previous == 'retrying' then
  redis.call('ZREM', KEYS[3], id)
elseif previous == 'running' then
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
else
  return {-2, previous}
end
rec.status = 'cancelled'
rec.completed_at = now
rec.next_retry_at = nil
save_record(KEYS[1], rec)
redis.call('ZADD', KEYS[6], tonumber(ARGV[3]), id)
redis.call('HINCRBY', KEYS[8], 'cancelled', 1)
emit(KEYS[7], tonumber(ARGV[4]), rec, 'cancelled', now)
return {1, previous, rec.type}
