--[[
  Forget finished jobs whose status TTL has passed: finished -> gone.

  KEYS[1] jobs   KEYS[2] finished (zset by expiry)   KEYS[3] created (browse index)
  ARGV[1] now (ms)   ARGV[2] most jobs to forget

  Returns: the number of records removed.
]]
--- @include "forget"

local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
forget(KEYS[1], KEYS[2], KEYS[3], gone)
return #gone
