-- wrk script: every connection rotates its own session's refresh token.
--
-- Run with as many threads as connections (-tN -cN): wrk keeps Lua state per thread, so one
-- connection per thread gives each its own token. TOKENS names a file with one refresh token
-- per line, one per thread (run.sh logs in that many times first).

local tokens = {}
local counter = 0

function setup(thread)
  if #tokens == 0 then
    for line in io.lines(os.getenv("TOKENS")) do
      tokens[#tokens + 1] = line
    end
  end
  counter = counter + 1
  thread:set("token", tokens[counter])
end

function request()
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/json" },
    '{"refreshToken":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local next_token = body:match('"refreshToken":"([^"]+)"')
    if next_token then
      token = next_token
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx or unparsable responses: %d\n", summary.errors.status))
end
