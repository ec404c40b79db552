-- Replaces the seal of an existing session, and nothing else; returns 1, or 0 when there is
-- no such session (it is never created).
--
-- KEYS[1] the session. ARGV[1] the new seal.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'seal', ARGV[1])
return 1
