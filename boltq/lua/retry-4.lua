--[[
  Bring a dead-letter job back on request: dead -> delayed (status retrying,
  due now), with its attempts counted from zero again.

  KEYS[1] jobs   KEYS[2] dead   KEYS[3] delayed   KEYS[4] events
  ARGV[1] job id   ARGV[2] now (ms)   ARGV[3] events maxlen

  Returns: {1} on success; {-1} unknown job; {-3, status} not in dead letter.
  Events: retrying
]]
--- @include "record"
--- @include "events"

local id = ARGV[1]
local now = tonumber(ARGV[2])
local rec = load_record(KEYS[1], id)
if not rec then
  return {-1}
end
if rec.status ~= 'dead_letter' or redis.call('ZREM', KEYS[2], id) == 0 then
  return {-3, rec.status}
end
rec.status = 'retrying'
rec.attempts = 0
rec.completed_at = nil
rec.started_at = nil
rec.worker_id = nil
rec.next_retry_at = now
save_record(KEYS[1], rec)
redis.call('ZADD', KEYS[3], now, id)
emit(KEYS[4], tonumber(ARGV[3]), rec, 'retrying', now)
return {1}
