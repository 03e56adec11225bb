--[[
  Reclaim jobs whose lease expired (their process died or stalled): each
  counts as a failed attempt with the error 'worker lost (lease expired)'.

  KEYS: as fail-7.lua (jobs, active, delayed, dead, events, stats, leases)
  ARGV[1] now (ms)   ARGV[2] events maxlen
  ARGV[3] backoff base (ms)   ARGV[4] backoff cap (ms)
  ARGV[5] most jobs to reclaim   ARGV[6] jitter seed in [0, 1)

  Returns: the type of each job reclaimed (one entry per job).
  Events: reclaimed, then retrying | dead_letter
]]
--- @include "record"
--- @include "events"
--- @include "fail_attempt"

local now = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local base, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local k = {jobs = KEYS[1], active = KEYS[2], delayed = KEYS[3], dead = KEYS[4],
           events = KEYS[5], stats = KEYS[6], leases = KEYS[7]}
local expired = redis.call('ZRANGEBYSCORE', k.active, '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local jitter = tonumber(ARGV[6])
local err = 'worker lost (lease expired)'
local types = {}
for _, id in ipairs(expired) do
  local rec = load_record(k.jobs, id)
  if rec then
    types[#types + 1] = rec.type
    emit(k.events, maxlen, rec, 'reclaimed', now, err)
    fail_attempt(k, rec, err, now, maxlen, base, cap, jitter)
    -- golden-ratio step: a spread of jitters from one random seed
    jitter = (jitter + 0.6180339887) % 1
  else
    redis.call('ZREM', k.active, id)
    redis.call('HDEL', k.leases, id)
  end
end
if #types > 0 then redis.call('HINCRBY', k.stats, 'reclaimed', #types) end
return types
