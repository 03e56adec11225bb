-- Delete jobs for good: their records, their place, and their browse-index
-- entry (KEYS: jobs, the place's zset, created).
local function forget(jobs_key, place_key, created_key, ids)
  if #ids > 0 then
    redis.call('HDEL', jobs_key, unpack(ids))
    redis.call('ZREM', place_key, unpack(ids))
    redis.call('ZREM', created_key, unpack(ids))
  end
end
