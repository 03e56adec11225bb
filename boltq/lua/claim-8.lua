--[[
  Claim up to N jobs for one fetcher: pending -> active.

  KEYS[1] jobs     KEYS[2] pending   KEYS[3] active (zset by lease deadline)
  KEYS[4] leases   hash id -> lease token
  KEYS[5] events   KEYS[6] wake   KEYS[7] dead (where corrupt records go)
  KEYS[8] waiters  hash fetcher -> registration (see the waiters include)

  ARGV[1] now (ms)   ARGV[2] lease deadline (ms)   ARGV[3] worker id
  ARGV[4] how many   ARGV[5] events maxlen
  ARGV[6] fetcher token, or '' for a plain claim
  ARGV[7] lease timeout (ms)   ARGV[8] registration lifetime (ms)

  With a fetcher token, jobs already handed to that fetcher (its inbox)
  come first and count toward N; if fewer than N are found, the fetcher is
  registered to be handed the rest as they are enqueued, else unregistered.
  Returns: a flat list {record JSON, token, ready at (ms), ...}.
  Events: started
]]
--- @include "record"
--- @include "claim"
--- @include "waiters"

local keys = {jobs = KEYS[1], pending = KEYS[2], active = KEYS[3], leases = KEYS[4],
              events = KEYS[5], dead = KEYS[7]}
local now = tonumber(ARGV[1])
local want = tonumber(ARGV[4])
local waiter = ARGV[6]
local out = {}
if waiter ~= '' then
  want = want - take_inbox(KEYS[8], waiter, out)
end
want = want - claim_jobs(keys, want, now, tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[5]), out)
if waiter ~= '' then
  register_waiter(KEYS[8], waiter, want, now, tonumber(ARGV[8]), ARGV[7], ARGV[3])
end
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[6])
end
return out
