-- Appended to the payment scenarios. Each line of a request file is one request: a header value, a tab, the body
-- (the header is named by an argument: Stripe-Signature, Authorization). Each wrk thread has its own file, the
-- first argument plus "." and the thread's index (bench/payments.py writes them), so no two threads share a line.
--
-- Mode "once": the file is read a line at a time as requests go out (no loading before the clock starts, however
-- large it is) and each line is sent at most once; when a thread's file runs out the thread stops (counted in
-- counters.exhausted_threads), and a request its other connections still ask for is a miss, sent as a request no
-- server accepts: a line is never sent again. Mode "cycle": the file (small) is loaded by init()
-- and sent round and round.
--
-- counters.sent counts the lines sent (wrk writes each request right after request() builds it); the "outcome" of
-- a JSON answer is counted as counters.outcome_<value>. wrk also calls request() once in thread 0's state after
-- init() and before any connection, to check the request (script_verify_request): that call gets a placeholder and
-- neither takes a line nor counts. Were a wrk version not to make it, thread 0's first request would be that
-- placeholder: refused (4xx, visible as non-2xx), never a line sent twice.
--
-- Arguments: the request file's prefix, the header name, the mode.

local header_name = nil
local cycle = false
local verify_call_pending = false
local source = nil    -- mode once: the open file, and the line the next request sends (nil: none left)
local upcoming = nil
local lines = {}      -- mode cycle
local next_line = 1
counters = { sent = 0 }
pool_misses = 0

function init(args)
  local path = args[1] .. "." .. thread_index
  header_name = args[2]
  cycle = args[3] == "cycle"
  verify_call_pending = thread_index == 0
  if cycle then
    for line in io.lines(path) do
      table.insert(lines, line)
    end
  else
    source = assert(io.open(path, "r"))
    upcoming = source:read("*l")
  end
end

local function take_line()
  if cycle then
    if #lines == 0 then
      return nil
    end
    local line = lines[next_line]
    next_line = next_line % #lines + 1
    return line
  end
  local line = upcoming
  if line ~= nil then
    upcoming = source:read("*l")
  end
  return line
end

local function placeholder(value)
  wrk.headers[header_name] = value
  return wrk.format(nil, nil, nil, "{}")
end

function request()
  if header_name == nil then
    -- A state init() never ran in (not a thread's): nothing to send.
    return wrk.format()
  end
  if verify_call_pending then
    verify_call_pending = false
    return placeholder("placeholder-never-accepted")
  end
  local line = take_line()
  if line == nil then
    pool_misses = pool_misses + 1
    return placeholder("pool-exhausted")
  end
  counters.sent = counters.sent + 1
  local tab = string.find(line, "\t", 1, true)
  wrk.headers[header_name] = string.sub(line, 1, tab - 1)
  return wrk.format(nil, nil, nil, string.sub(line, tab + 1))
end

function after_response(status, headers, body)
  local outcome = body and string.match(body, '"outcome":"(%a+)"')
  if outcome then
    local key = "outcome_" .. outcome
    counters[key] = (counters[key] or 0) + 1
  end
  if not cycle and upcoming == nil and not counters.exhausted_threads then
    -- This thread's file ran out: it stops sending (the run reports it) rather than send a line again.
    counters.exhausted_threads = 1
    wrk.thread:stop()
  end
end
