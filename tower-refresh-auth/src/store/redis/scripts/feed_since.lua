-- The latest sequence number and the recorded revocations numbered after ARGV[1], at once.
--
-- KEYS[1] the sequence counter; KEYS[2] the record.
local head = redis.call('GET', KEYS[1]) or '0'
local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
return {head, entries}
