--[[
  Forget finished jobs whose status TTL has passed: finished -> gone.

  KEYS[1] jobs   KEYS[2] finished (zset by expiry)   KEYS[3] created (browse index)
  ARGV[1] now (ms)   ARGV[2] most jobs to forget

  Returns: the number of records removed.
]]
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end
return #gone
