-- Appended to every scenario script. Counts responses by status in each wrk thread and, when the run ends,
-- prints one JSON line with throughput, latency percentiles (microseconds), the status counts and the sums of the
-- scenario script's own `counters` (if it keeps any), because wrk's own summary only says "Non-2xx or 3xx
-- responses" and has no machine-readable form.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if after_response then
    after_response(status, headers, body)
  end
end

-- Numbers as JSON: NaN and infinity (an empty latency histogram) become null.
local function json_value(value)
  if type(value) == "number" and (value ~= value or value == math.huge or value == -math.huge) then
    return "null"
  end
  return tostring(value)
end

local function json_object(entries)
  local parts = {}
  for key, value in pairs(entries) do
    table.insert(parts, string.format('"%s":%s', tostring(key), json_value(value)))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local totals = {}
  local pool_misses = 0
  local counter_totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
    pool_misses = pool_misses + (thread:get("pool_misses") or 0)
    for name, count in pairs(thread:get("counters") or {}) do
      counter_totals[name] = (counter_totals[name] or 0) + count
    end
  end
  local errors = summary.errors
  io.write("BENCH_RESULT ", json_object({
    requests = summary.requests,
    duration_us = summary.duration,
    p50_us = latency:percentile(50),
    p90_us = latency:percentile(90),
    p99_us = latency:percentile(99),
    max_us = latency.max,
    mean_us = latency.mean,
    connect_errors = errors.connect,
    read_errors = errors.read,
    write_errors = errors.write,
    timeouts = errors.timeout,
    pool_misses = pool_misses,
    statuses = json_object(totals),
    counters = json_object(counter_totals),
  }), "\n")
end
