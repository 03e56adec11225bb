-- Hand-off: an idle fetcher registers in the waiters hash (KEYS: waiters)
-- with how many jobs it can take, then blocks on its own inbox list. An
-- enqueue claims jobs for registered fetchers and pushes each one batch
-- (claimed jobs joined by newlines), so an idle supervisor starts a job in
-- the one round trip it is already blocked in. Handed jobs are in active
-- under a lease like any claimed job: if the fetcher is gone, they are
-- reclaimed when the lease expires.
--
-- A registration is "expiry_ms credit lease_ms worker_id"; the fetcher
-- renews it on every claim, so one that stopped renewing gets nothing.

local function inbox_key(waiters_key, waiter)
  return waiters_key .. ':' .. waiter
end

local function register_waiter(waiters_key, waiter, credit, now, ttl_ms, lease_ms, worker_id)
  if credit > 0 then
    redis.call('HSET', waiters_key, waiter,
      (now + ttl_ms) .. ' ' .. credit .. ' ' .. lease_ms .. ' ' .. worker_id)
  else
    redis.call('HDEL', waiters_key, waiter)
  end
end

-- Take every batch waiting in a fetcher's inbox; append its jobs to out.
-- Returns how many jobs.
local function take_inbox(waiters_key, waiter, out)
  local inbox = inbox_key(waiters_key, waiter)
  local batches = redis.call('LRANGE', inbox, 0, -1)
  redis.call('DEL', inbox)
  local taken = 0
  for _, batch in ipairs(batches) do
    for part in string.gmatch(batch, '[^\n]+') do
      out[#out + 1] = part
      taken = taken + 1
    end
  end
  return taken / 3
end
