--[[
  Complete a batch of running jobs: active -> finished (expires after the
  status TTL).

  KEYS[1] jobs   KEYS[2] active   KEYS[3] leases   KEYS[4] finished (zset by expiry)
  KEYS[5] events KEYS[6] stats

  ARGV[1] now (ms)   ARGV[2] expires at (ms)   ARGV[3] events maxlen
  ARGV[4..] triples: job id, lease token, result JSON ('' for none)

  Returns: the ids whose token was not current (stale writes, ignored).
  Events: completed
]]
--- @include "record"
--- @include "events"
--- @include "lease"

local now = tonumber(ARGV[1])
local expires = tonumber(ARGV[2])
local maxlen = tonumber(ARGV[3])
local stale = {}
local done = 0
for i = 4, #ARGV, 3 do
  local id, token, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local rec = holds_lease(KEYS[3], id, token) and load_record(KEYS[1], id)
  if rec then
    rec.status = 'completed'
    rec.completed_at = now
    rec.error = nil
    if result ~= '' then rec.result = result end
    save_record(KEYS[1], rec)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZADD', KEYS[4], expires, id)
    emit(KEYS[5], maxlen, rec, 'completed', now)
    done = done + 1
  else
    stale[#stale + 1] = id
  end
end
if done > 0 then redis.call('HINCRBY', KEYS[6], 'processed', done) end
if #stale > 0 then redis.call('HINCRBY', KEYS[6], 'stale_writes', #stale) end
return stale
