-- Claim up to n pending jobs under fresh leases: pending -> active.
-- keys = {jobs, pending, active, leases, events, dead}
--
-- A record that cannot be decoded is moved to the dead letter set instead of
-- breaking the claim (scripts are not rolled back: an error after the pop
-- would strand the whole batch); `boltq check` then reports it.
-- Each job gets a fresh lease token (the stream id of its 'started' event,
-- unique and increasing), which every later write must present.
-- Appends to out, flat: record JSON, token, ready at (ms); "ready at" is when
-- the job became runnable (created, or its retry fell due). Returns how many.
local function claim_jobs(keys, n, now, deadline, worker_id, maxlen, out)
  if n <= 0 then
    return 0
  end
  local popped = redis.call('ZPOPMIN', keys.pending, n)
  local claimed = 0
  for i = 1, #popped, 2 do
    local raw = redis.call('HGET', keys.jobs, popped[i])
    local ok, rec = pcall(cjson.decode, raw or '')
    if not (raw and ok and type(rec) == 'table' and rec.id and rec.type) then
      if raw then
        redis.call('ZADD', keys.dead, now, popped[i])  -- quarantine the corrupt record
      end
      rec = nil
    end
    if rec then
      local ready_at = rec.next_retry_at or rec.created_at
      rec.status = 'running'
      rec.attempts = (rec.attempts or 0) + 1
      rec.started_at = now
      rec.next_retry_at = nil
      rec.worker_id = worker_id
      save_record(keys.jobs, rec)
      redis.call('ZADD', keys.active, deadline, rec.id)
      local token = redis.call('XADD', keys.events, 'MAXLEN', '~', maxlen, '*',
        'job_id', rec.id, 'event', 'started', 'status', 'running', 'type', rec.type,
        'attempt', tostring(rec.attempts), 'ts', tostring(now), 'worker_id', worker_id,
        'tags', rec.tags or '[]')
      redis.call('HSET', keys.leases, rec.id, token)
      out[#out + 1] = cjson.encode(rec)
      out[#out + 1] = token
      out[#out + 1] = ready_at
      claimed = claimed + 1
    end
  end
  return claimed
end
