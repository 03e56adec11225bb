--[[
  Record that a supervisor process is alive, and forget the ones that
  stopped heartbeating. (Registry bookkeeping, not a job transition.)

  KEYS[1] workers   hash  supervisor id -> info JSON
  KEYS[2] seen      zset  supervisor id by last heartbeat (ms)
  ARGV[1] now (ms)  ARGV[2] supervisor id  ARGV[3] info JSON ('' to deregister)
  ARGV[4] forget heartbeats older than this (ms)

  Returns: the number of supervisors forgotten.
]]
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[2], tonumber(ARGV[1]), ARGV[2])
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
end
return #gone
