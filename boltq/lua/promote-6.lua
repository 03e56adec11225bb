--[[
  Promote due retries and delayed jobs: delayed -> pending.

  KEYS[1] jobs   KEYS[2] delayed   KEYS[3] pending   KEYS[4] seq
  KEYS[5] events KEYS[6] wake
  ARGV[1] now (ms)   ARGV[2] most jobs to promote   ARGV[3] events maxlen

  A promoted job joins the back of its priority's line (a fresh seq).
  Returns: {promoted count, due time (ms) of the next delayed job or -1}.
  Events: pending
]]
--- @include "record"
--- @include "events"
--- @include "pending"

local now = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  local rec = load_record(KEYS[1], id)
  if rec then
    rec.status = 'pending'
    rec.seq = redis.call('INCR', KEYS[4])
    save_record(KEYS[1], rec)
    redis.call('ZADD', KEYS[3], pending_score(rec.priority, rec.seq), id)
    emit(KEYS[5], maxlen, rec, 'pending', now)
  end
end
if #due > 0 then wake(KEYS[6], #due) end
local next_due = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #next_due == 0 then
  return {#due, -1}
end
return {#due, tonumber(next_due[2])}
