-- Claim pending jobs for registered fetchers (see the waiters include), in
-- batches up to their credit. Needs the claim and waiters includes.
-- keys as for claim_jobs, plus waiters.
local function hand_off(keys, now, maxlen)
  local waiting = redis.call('HGETALL', keys.waiters)
  for i = 1, #waiting, 2 do
    local waiter = waiting[i]
    local expiry, credit, lease_ms, worker_id =
      string.match(waiting[i + 1], '^(%d+) (%d+) (%d+) (.*)$')
    if not expiry or tonumber(expiry) < now then
      redis.call('HDEL', keys.waiters, waiter)
    else
      credit = tonumber(credit)
      local batch = {}
      local n = claim_jobs(keys, credit, now, now + tonumber(lease_ms), worker_id, maxlen, batch)
      if n > 0 then
        local inbox = inbox_key(keys.waiters, waiter)
        redis.call('RPUSH', inbox, table.concat(batch, '\n'))
        redis.call('PEXPIRE', inbox, tonumber(lease_ms))
        register_waiter(keys.waiters, waiter, credit - n, now, tonumber(expiry) - now,
          lease_ms, worker_id)
      end
      if redis.call('ZCARD', keys.pending) == 0 then
        return
      end
    end
  end
end
