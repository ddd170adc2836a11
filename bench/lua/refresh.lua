-- Appended to the refresh scenario. Refresh tokens are single-use and reusing one revokes its session, so every
-- thread reads a disjoint slice of the token file (line i belongs to thread i mod thread_count) and sends each
-- token exactly once. Arguments: the token file and the number of wrk threads.

local tokens = {}
local next_token = 1
pool_misses = 0

function init(args)
  local path, thread_count = args[1], tonumber(args[2])
  local line_number = 0
  for line in io.lines(path) do
    if line_number % thread_count == thread_index then
      table.insert(tokens, line)
    end
    line_number = line_number + 1
  end
end

function request()
  local token = tokens[next_token]
  if token == nil then
    -- The pool ran out: send a token that cannot exist (a 401, counted) rather than reuse a real one.
    pool_misses = pool_misses + 1
    token = "pool-exhausted"
  end
  next_token = next_token + 1
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function after_response(status)
  if tokens[next_token] == nil then
    wrk.thread:stop()
  end
end
