-- Binds a live session to a DPoP key if it is not bound yet (docs/protocol.md §10): sets
-- `jkt` and the seal, touching nothing else. Returns `{}` when no live session exists, else
-- the session's fields after (FIELDS order), bound to ARGV[1] or to its earlier key.
--
-- KEYS[1] the session. ARGV[1] the thumbprint; ARGV[2] the seal of the bound session;
-- ARGV[3] now (ms).
local fields = {'sub', 'claims', 'ctr', 'cat', 'rat', 'exp', 'abs', 'seal', 'ua', 'lbl', 'jkt'}
local s = redis.call('HMGET', KEYS[1], unpack(fields))
if not s[3] then
  return {}
end
local now = tonumber(ARGV[3])
if not (now < tonumber(s[6]) and (not s[7] or now < tonumber(s[7]))) then
  return {}
end
if not s[11] or s[11] == '' then
  redis.call('HSET', KEYS[1], 'jkt', ARGV[1], 'seal', ARGV[2])
  s = redis.call('HMGET', KEYS[1], unpack(fields))
end
local out = {}
for i = 1, 11 do
  out[i] = s[i] or ''
end
return out
