--[[
  Put interrupted jobs back to pending without counting the attempt (graceful
  shutdown ran out of grace): active -> pending, at their old place in line.

  KEYS[1] jobs   KEYS[2] active   KEYS[3] leases   KEYS[4] pending
  KEYS[5] events KEYS[6] wake     KEYS[7] stats
  ARGV[1] now (ms)   ARGV[2] events maxlen
  ARGV[3..] pairs: job id, lease token

  Returns: the ids whose token was not current (stale writes, ignored).
  Events: requeued
]]
--- @include "record"
--- @include "events"
--- @include "lease"
--- @include "pending"

local now = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local stale = {}
local moved = 0
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local rec = holds_lease(KEYS[3], id, token) and load_record(KEYS[1], id)
  if rec then
    rec.status = 'pending'
    rec.attempts = math.max((rec.attempts or 1) - 1, 0)
    rec.started_at = nil
    rec.worker_id = nil
    save_record(KEYS[1], rec)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZADD', KEYS[4], pending_score(rec.priority, rec.seq), id)
    emit(KEYS[5], maxlen, rec, 'requeued', now)
    moved = moved + 1
  else
    stale[#stale + 1] = id
  end
end
if moved > 0 then wake(KEYS[6], moved) end
if #stale > 0 then redis.call('HINCRBY', KEYS[7], 'stale_writes', #stale) end
return stale
