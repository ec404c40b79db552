-- Drops the given ids from a subject's index, those at least ARGV[1] ms old only; returns
-- how many it dropped.
--
-- KEYS[1] the subject's index. ARGV[1] the minimum age; ARGV[2..] the ids.
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local dropped = 0
for i = 2, #ARGV do
  local added = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if added and tonumber(added) <= cutoff then
    dropped = dropped + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return dropped
