--[[
  A fetcher stops waiting: unregister it and take what was handed to it.

  KEYS[1] waiters   ARGV[1] fetcher token

  After this no enqueue hands the fetcher anything. Returns the flat list of
  jobs already handed over (record JSON, token, ready at, ...); they are
  active under its leases, and the caller puts them back (requeue).
]]
--- @include "waiters"

redis.call('HDEL', KEYS[1], ARGV[1])
local out = {}
take_inbox(KEYS[1], ARGV[1], out)
return out
