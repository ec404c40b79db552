-- Records a revocation and publishes it, numbered one past the latest.
--
-- KEYS[1] the sequence counter; KEYS[2] the record (a sorted set scored by sequence number).
-- ARGV[1] the revocation's JSON without its opening `{"seq":N,`; ARGV[2] now (ms);
-- ARGV[3] when it expires (ms); ARGV[4] the channel.
local seq = redis.call('INCR', KEYS[1])
local entry = '{"seq":' .. seq .. ',' .. ARGV[1]
redis.call('ZADD', KEYS[2], seq, entry)
-- Drop expired revocations from the head: a bounded amount of work per call.
local now = tonumber(ARGV[2])
for _ = 1, 64 do
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #head == 0 then break end
  local expires = tonumber(string.match(head[1], '"exp":(%d+)}$'))
  if expires ~= nil and expires > now then break end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, 0)
end
-- The record outlives its latest revocation by a minute (the server's clock may lag ours).
local keep = tonumber(ARGV[3]) - now + 60000
if redis.call('PTTL', KEYS[2]) < keep then
  redis.call('PEXPIRE', KEYS[2], keep)
end
redis.call('PUBLISH', ARGV[4], entry)
return seq
