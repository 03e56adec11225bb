-- Append one job event to the capped stream (KEYS: events), in the same
-- script as the transition it reports.
local function emit(events_key, maxlen, rec, event, now, extra_error)
  local fields = {
    'job_id', rec.id, 'event', event, 'status', rec.status, 'type', rec.type,
    'attempt', tostring(rec.attempts or 0), 'ts', tostring(now),
  }
  if rec.tags and rec.tags ~= '[]' then
    table.insert(fields, 'tags'); table.insert(fields, rec.tags)
  end
  if rec.worker_id then
    table.insert(fields, 'worker_id'); table.insert(fields, rec.worker_id)
  end
  if event == 'retrying' and rec.next_retry_at then
    table.insert(fields, 'next_retry_at'); table.insert(fields, tostring(rec.next_retry_at))
  end
  local err = extra_error or rec.error
  if err and (event == 'retrying' or event == 'dead_letter' or event == 'failed' or event == 'reclaimed') then
    table.insert(fields, 'error'); table.insert(fields, err)
  end
  redis.call('XADD', events_key, 'MAXLEN', '~', maxlen, '*', unpack(fields))
end
