-- Job records live as JSON strings in one hash per queue (KEYS: jobs).
-- payload, result and tags are JSON strings inside the record, so Lua never
-- re-encodes user data (cjson would change float precision and [] vs {}).
local function load_record(jobs_key, job_id)
  local raw = redis.call('HGET', jobs_key, job_id)
  if not raw then
    return nil
  end
  return cjson.decode(raw)
end

local function save_record(jobs_key, rec)
  redis.call('HSET', jobs_key, rec.id, cjson.encode(rec))
end
