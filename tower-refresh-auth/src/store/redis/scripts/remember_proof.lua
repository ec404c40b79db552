-- Remembers a spent DPoP proof in its key's partition (docs/protocol.md §10): a sorted set
-- of the key's spent proofs, scored by when each may be forgotten. Expired members are
-- dropped first; then the proof is refused if remembered (a replay, 0) or if the partition
-- already holds its share (-1), else added (1). The set expires with its last member, so a
-- quiet key leaves nothing behind, and one key can never hold more than ARGV[4] members.
--
-- KEYS[1] the partition. ARGV[1] the replay key; ARGV[2] until when it is remembered (ms);
-- ARGV[3] now (ms); ARGV[4] the most one partition holds.
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ttl = math.max(tonumber(ARGV[2]) - now, 1)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
