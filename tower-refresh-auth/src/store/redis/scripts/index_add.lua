-- Adds a session id to its subject's index, scored by the server's time, and sets the
-- index's expiry; returns the index's size.
--
-- KEYS[1] the subject's index. ARGV[1] the session id; ARGV[2] the session's absolute
-- expiry in ms, or "" when it has none.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[1])
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[1])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[1])
elseif ttl == -2 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
elseif ttl >= 0 and now + ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return redis.call('ZCARD', KEYS[1])
