--[[
  Claim up to N pending jobs for one worker process: pending -> active.

  KEYS[1] jobs     KEYS[2] pending   KEYS[3] active (zset by lease deadline)
  KEYS[4] leases   hash id -> lease token
  KEYS[5] events   KEYS[6] wake   KEYS[7] dead (where corrupt records go)

  ARGV[1] now (ms)   ARGV[2] lease deadline (ms)   ARGV[3] worker id
  ARGV[4] how many   ARGV[5] events maxlen

  A record that cannot be decoded is moved to the dead letter set instead
  of breaking the claim (scripts are not rolled back: an error after the
  pop would strand the whole batch); `boltq check` then reports it.

  Each claimed job gets a fresh lease token (the stream id of its 'started'
  event, unique and increasing), which every later write must present.
  Returns: a flat list {record JSON, token, ready at (ms), ...}; "ready at"
  is when the job became runnable (created, or its retry fell due), for the
  queue-wait metric.
  Events: started
]]
--- @include "record"
--- @include "events"

local now = tonumber(ARGV[1])
local deadline = tonumber(ARGV[2])
local maxlen = tonumber(ARGV[5])
local popped = redis.call('ZPOPMIN', KEYS[2], tonumber(ARGV[4]))
local out = {}
for i = 1, #popped, 2 do
  local raw = redis.call('HGET', KEYS[1], popped[i])
  local ok, rec = pcall(cjson.decode, raw or '')
  if not (raw and ok and type(rec) == 'table' and rec.id and rec.type) then
    if raw then
      redis.call('ZADD', KEYS[7], now, popped[i])  -- quarantine the corrupt record
    end
    rec = nil
  end
  if rec then
    local ready_at = rec.next_retry_at or rec.created_at
    rec.status = 'running'
    rec.attempts = (rec.attempts or 0) + 1
    rec.started_at = now
    rec.next_retry_at = nil
    rec.worker_id = ARGV[3]
    save_record(KEYS[1], rec)
    redis.call('ZADD', KEYS[3], deadline, rec.id)
    local token = redis.call('XADD', KEYS[5], 'MAXLEN', '~', maxlen, '*',
      'job_id', rec.id, 'event', 'started', 'status', 'running', 'type', rec.type,
      'attempt', tostring(rec.attempts), 'ts', tostring(now), 'worker_id', ARGV[3],
      'tags', rec.tags or '[]')
    redis.call('HSET', KEYS[4], rec.id, token)
    out[#out + 1] = cjson.encode(rec)
    out[#out + 1] = token
    out[#out + 1] = ready_at
  end
end
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[6])
end
return out
