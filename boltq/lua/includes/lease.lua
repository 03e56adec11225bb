-- A write about a running job counts only if it presents the job's current
-- lease token (KEYS: leases): a worker that lost its lease cannot change a
-- job that was since reclaimed, cancelled or rerun.
local function holds_lease(leases_key, job_id, token)
  return redis.call('HGET', leases_key, job_id) == token
end
