-- wrk script of tests/bench/status-vs-nginx: GET /v1/credentials/<id>/status with the ids
-- of a file (one per line; the first argument after `--`, the second is wrk's -t) in turn,
-- each thread starting at its own place in the list; headers come from wrk's -H options. At the end it prints one
-- line, `WRK_RESULT {json}`, that the benchmark reads: requests, duration, errors (status
-- counts answers >= 400) and latency percentiles in microseconds.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      table.insert(ids, "/v1/credentials/" .. line .. "/status")
    end
  end
  -- Threads start evenly apart in the list, so they never ask for the same id together.
  position = math.floor(#ids * thread_number / tonumber(args[2] or 1)) % #ids
end

function request()
  position = position % #ids + 1
  return wrk.format(nil, ids[position])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0),
    latency.max, latency.mean))
end
