--[[
  Delete dead-letter jobs for good, oldest first: dead -> gone.

  KEYS[1] jobs   KEYS[2] dead   KEYS[3] created (browse index)   KEYS[4] events
  ARGV[1] now (ms)   ARGV[2] most jobs to delete   ARGV[3] events maxlen

  Returns: the number of jobs deleted (call again until it returns 0).
  Events: purged (with status "purged")
]]
--- @include "record"
--- @include "events"
--- @include "forget"

local now = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[3])
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
for _, id in ipairs(ids) do
  local rec = load_record(KEYS[1], id)
  if rec then
    rec.status = 'purged'  -- the record is gone; the event says so, not dead_letter
    emit(KEYS[4], maxlen, rec, 'purged', now)
  end
end
forget(KEYS[1], KEYS[2], KEYS[3], ids)
return #ids
