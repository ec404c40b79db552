-- Deletes a session if it belongs to the subject; returns how many were deleted.
--
-- KEYS[1] the session. ARGV[1] the subject.
if redis.call('HGET', KEYS[1], 'sub') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
