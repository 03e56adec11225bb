--[[
  Extend the leases of all in-flight jobs of one process in one call, and
  tell it which jobs it no longer holds (cancelled, reclaimed, finished).

  KEYS[1] active   KEYS[2] leases
  ARGV[1] new lease deadline (ms)
  ARGV[2..] pairs: job id, lease token

  Returns: the ids whose lease is gone; their processors should stop.
]]
--- @include "lease"

local deadline = tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if holds_lease(KEYS[2], id, ARGV[i + 1]) then
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
