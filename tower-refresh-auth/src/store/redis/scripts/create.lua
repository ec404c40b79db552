-- Writes a session, replacing any earlier one with the same id.
--
-- KEYS[1] the session. ARGV: sub, claims, ctr, cat, rat, exp, abs ("" for none), seal,
-- deadline, ua ("" for none), lbl ("" for none), jkt ("" for none).
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'claims', ARGV[2], 'ctr', ARGV[3],
  'cat', ARGV[4], 'rat', ARGV[5], 'exp', ARGV[6], 'seal', ARGV[8])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'abs', ARGV[7])
end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'ua', ARGV[10])
end
if ARGV[11] ~= '' then
  redis.call('HSET', KEYS[1], 'lbl', ARGV[11])
end
if ARGV[12] ~= '' then
  redis.call('HSET', KEYS[1], 'jkt', ARGV[12])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
return 1
