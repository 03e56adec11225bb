--[[
  Fail one attempt of each job in a batch: active -> delayed (retrying, with
  exponential backoff and jitter) or -> dead letter after max_attempts.

  KEYS[1] jobs   KEYS[2] active   KEYS[3] delayed   KEYS[4] dead
  KEYS[5] events KEYS[6] stats    KEYS[7] leases

  ARGV[1] now (ms)   ARGV[2] events maxlen
  ARGV[3] backoff base (ms)   ARGV[4] backoff cap (ms)
  ARGV[5..] quads: job id, lease token, error text, jitter in [0, 1)

  Returns: {stale ids (token not current, ignored), dead-lettered ids}.
  Events: retrying | dead_letter
]]
--- @include "record"
--- @include "events"
--- @include "lease"
--- @include "fail_attempt"

local now = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local base, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local k = {jobs = KEYS[1], active = KEYS[2], delayed = KEYS[3], dead = KEYS[4],
           events = KEYS[5], stats = KEYS[6], leases = KEYS[7]}
local stale, dead = {}, {}
for i = 5, #ARGV, 4 do
  local id, token = ARGV[i], ARGV[i + 1]
  local rec = holds_lease(k.leases, id, token) and load_record(k.jobs, id)
  if not rec then
    stale[#stale + 1] = id
  elseif fail_attempt(k, rec, ARGV[i + 2], now, maxlen, base, cap,
                      tonumber(ARGV[i + 3])) == 'dead_letter' then
    dead[#dead + 1] = id
  end
end
if #stale > 0 then redis.call('HINCRBY', k.stats, 'stale_writes', #stale) end
return {stale, dead}
