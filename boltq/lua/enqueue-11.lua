--[[
  Enqueue a batch of new jobs as pending, then hand what it can to idle fetchers.

  KEYS[1] jobs     hash  id -> record JSON
  KEYS[2] pending  zset  id by pending_score(priority, seq)
  KEYS[3] events   stream
  KEYS[4] stats    hash  counters
  KEYS[5] seq      counter for FIFO order within a priority
  KEYS[6] wake     list  tokens for blocked fetchers
  KEYS[7] created  zset  every job id, all scores 0: ordered by id = by time
  KEYS[8] active   KEYS[9] leases   KEYS[10] dead   (for the hand-off claim)
  KEYS[11] waiters hash  idle fetchers (see the waiters include)

  ARGV[1] now (ms)   ARGV[2] events maxlen
  ARGV[3..] one record JSON per job (status pending, attempts 0)

  Returns: one slot per job: 1 if enqueued, 0 if its id already existed (it
  is skipped, so a retried submission cannot put one job in two places).
  Jobs handed off are claimed here, in line order, exactly as a claim would.
  Events: created (and started for jobs handed off)
]]
--- @include "record"
--- @include "events"
--- @include "pending"
--- @include "claim"
--- @include "waiters"
--- @include "handoff"

local now = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local added = {}
local count = 0
for i = 3, #ARGV do
  local rec = cjson.decode(ARGV[i])
  if redis.call('HEXISTS', KEYS[1], rec.id) == 1 then
    added[#added + 1] = 0
  else
    rec.seq = redis.call('INCR', KEYS[5])
    save_record(KEYS[1], rec)
    redis.call('ZADD', KEYS[2], pending_score(rec.priority, rec.seq), rec.id)
    redis.call('ZADD', KEYS[7], 0, rec.id)
    emit(KEYS[3], maxlen, rec, 'created', now)
    added[#added + 1] = 1
    count = count + 1
  end
end
if count > 0 then
  redis.call('HINCRBY', KEYS[4], 'published', count)
  hand_off({jobs = KEYS[1], pending = KEYS[2], active = KEYS[8], leases = KEYS[9],
            events = KEYS[3], dead = KEYS[10], waiters = KEYS[11]}, now, maxlen)
  local left = redis.call('ZCARD', KEYS[2])
  if left > 0 then
    wake(KEYS[6], math.min(count, left))
  end
end
return added
