-- Re-authentication (docs/protocol.md §15): a compare-and-swap on the counter *and* the
-- seal that also replaces the sealed claims. Returns `{}` when nothing changed (no live
-- session, or its counter or seal moved since the layer read it), else the session's fields
-- after (FIELDS order, '' for absent ones).
--
-- KEYS[1] the session. ARGV[1] the expected counter; ARGV[2] the expected seal; ARGV[3] the
-- next counter, larger than the expected one; ARGV[4] now (ms); ARGV[5] the new sliding
-- expiry (ms); ARGV[6] the claims; ARGV[7] the seal; ARGV[8] the new `rotated_at` (ms).
-- Counters are compared as strings, so they stay exact past 2^53.
local fields = {'sub', 'claims', 'ctr', 'cat', 'rat', 'exp', 'abs', 'seal', 'ua', 'lbl', 'jkt'}
local s = redis.call('HMGET', KEYS[1], unpack(fields))
if not s[3] then
  return {}
end
local now = tonumber(ARGV[4])
if not (now < tonumber(s[6]) and (not s[7] or now < tonumber(s[7]))) then
  return {}
end
if s[3] ~= ARGV[1] or (s[8] or '') ~= ARGV[2] then
  return {}
end
redis.call('HSET', KEYS[1], 'ctr', ARGV[3], 'rat', ARGV[8], 'exp', ARGV[5], 'claims', ARGV[6],
  'seal', ARGV[7])
local deadline = ARGV[5]
if s[7] and tonumber(s[7]) < tonumber(deadline) then
  deadline = s[7]
end
-- Read back before the expiry, as `rotate` does.
s = redis.call('HMGET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], deadline)
local out = {}
for i = 1, 11 do
  out[i] = s[i] or ''
end
return out
