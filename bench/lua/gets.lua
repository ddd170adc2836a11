-- Appended to the leaderboard scenario. Each line of a request file is one GET request: an Authorization header
-- value, a tab, the path with its query string. Each wrk thread loads its own file, the first argument plus "." and
-- the thread's index (bench/leaderboards.py writes them), and sends its lines round and round.
--
-- counters.sent counts the requests built; the answers are counted by what they carry: counters.caller_ranked
-- (the caller's own entry, with a rank), counters.caller_null (no XP on that board) and counters.full_page (at
-- least `page` entries in the page, the second argument). wrk also calls request() once in thread 0's state before
-- any connection, to check the request: that call takes a line like any other (lines are sent many times here).
--
-- Arguments: the request file's prefix, the page size expected.

local lines = {}
local next_line = 1
local page = 0
counters = { sent = 0, caller_ranked = 0, caller_null = 0, full_page = 0 }

function init(args)
  for line in io.lines(args[1] .. "." .. thread_index) do
    table.insert(lines, line)
  end
  page = tonumber(args[2])
end

function request()
  if #lines == 0 then
    -- A state init() never ran in (not a thread's): nothing to send.
    return wrk.format()
  end
  local line = lines[next_line]
  next_line = next_line % #lines + 1
  counters.sent = counters.sent + 1
  local tab = string.find(line, "\t", 1, true)
  wrk.headers["Authorization"] = string.sub(line, 1, tab - 1)
  return wrk.format("GET", string.sub(line, tab + 1))
end

function after_response(status, headers, body)
  if status ~= 200 or not body then
    return
  end
  -- One `"rank":` per entry of the page, and one more for the caller's own entry when it is there.
  local ranks = 0
  for _ in string.gmatch(body, '"rank":') do
    ranks = ranks + 1
  end
  local entries = ranks
  if string.find(body, '"caller":null', 1, true) then
    counters.caller_null = counters.caller_null + 1
  elseif string.find(body, '"caller":{', 1, true) then
    counters.caller_ranked = counters.caller_ranked + 1
    entries = ranks - 1
  end
  if entries >= page then
    counters.full_page = counters.full_page + 1
  end
end
