-- Pending order: higher priority first, FIFO within a priority.
-- score = (100 - priority) * 2^43 + seq stays exact in a double (< 2^53).
local function pending_score(priority, seq)
  return (100 - priority) * 8796093022208 + seq
end

-- Tell blocked fetchers there is work; capped so an idle queue holds little.
local function wake(wake_key, n)
  local tokens = {}
  for i = 1, math.min(n, 100) do tokens[i] = '1' end
  if #tokens > 0 then
    redis.call('LPUSH', wake_key, unpack(tokens))
    redis.call('LTRIM', wake_key, 0, 999)
  end
end
