--[[
  Bring dead-letter jobs back on request: dead -> delayed (status retrying,
  due now), with their attempts counted from zero again.

  KEYS[1] jobs   KEYS[2] dead   KEYS[3] delayed   KEYS[4] events
  ARGV[1] now (ms)   ARGV[2] events maxlen   ARGV[3..] job ids

  Returns: one reply per id, in order: 1 retried; -1 unknown job;
           or the job's status when it is not in the dead letter queue.
  Events: retrying
]]
--- @include "record"
--- @include "events"

local now = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local replies = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local rec = load_record(KEYS[1], id)
  if not rec then
    redis.call('ZREM', KEYS[2], id)  -- a dead entry without a record: drop it
    replies[#replies + 1] = -1
  elseif rec.status ~= 'dead_letter' or redis.call('ZREM', KEYS[2], id) == 0 then
    replies[#replies + 1] = rec.status
  else
    rec.status = 'retrying'
    rec.attempts = 0
    rec.completed_at = nil
    rec.started_at = nil
    rec.worker_id = nil
    rec.next_retry_at = now
    save_record(KEYS[1], rec)
    redis.call('ZADD', KEYS[3], now, id)
    emit(KEYS[4], maxlen, rec, 'retrying', now)
    replies[#replies + 1] = 1
  end
end
return replies
