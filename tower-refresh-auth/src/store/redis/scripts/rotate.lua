-- The compare-and-swap. Returns `{}` when no live session exists, else
-- `{'rotated' | 'conflict', sub, claims, ctr, cat, rat, exp, abs or '', seal or '', ua or '',
-- lbl or '', jkt or ''}`
-- (a hash from before sessions were sealed has no `seal`).
--
-- KEYS[1] the session. ARGV[1] the expected counter; ARGV[2] now; ARGV[3] the new sliding
-- expiry; ARGV[4] the next counter, larger than the expected one (all decimal); ARGV[5] '1'
-- to swap only a session bound to no DPoP key (a bound one is a conflict, unchanged), else
-- ''. Counters are compared as strings, so they stay exact past 2^53.
local s = redis.call('HMGET', KEYS[1], 'sub', 'claims', 'ctr', 'cat', 'rat', 'exp', 'abs', 'seal', 'ua', 'lbl', 'jkt')
if not s[3] then
  return {}
end
local now = tonumber(ARGV[2])
if not (now < tonumber(s[6]) and (not s[7] or now < tonumber(s[7]))) then
  return {}
end
local status = 'conflict'
local bound = s[11] and s[11] ~= ''
if s[3] == ARGV[1] and not (ARGV[5] == '1' and bound) then
  status = 'rotated'
  redis.call('HSET', KEYS[1], 'ctr', ARGV[4], 'rat', ARGV[2], 'exp', ARGV[3])
  local deadline = ARGV[3]
  if s[7] and tonumber(s[7]) < tonumber(deadline) then
    deadline = s[7]
  end
  -- Read back before the expiry: a deadline already past by the server's clock (an
  -- instance whose clock is behind the server's) deletes the key at once, and the rotation
  -- still happened.
  s = redis.call('HMGET', KEYS[1], 'sub', 'claims', 'ctr', 'cat', 'rat', 'exp', 'abs', 'seal', 'ua', 'lbl', 'jkt')
  redis.call('PEXPIREAT', KEYS[1], deadline)
end
return {status, s[1], s[2], s[3], s[4], s[5], s[6], s[7] or '', s[8] or '', s[9] or '', s[10] or '', s[11] or ''}
