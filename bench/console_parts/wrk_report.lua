-- bench/console.py: wrk's summary as one parseable line, and a count of answers that are
-- not 200 (wrk itself counts a 302 to the login page as a success).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_ok = 0
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("not_ok")
  end
  local e = summary.errors
  io.write(string.format(
    "E2A_WRK requests=%d duration_us=%d mean_us=%.1f stdev_us=%.1f max_us=%d" ..
    " p50_us=%d p90_us=%d p95_us=%d p99_us=%d not_200=%d connect=%d read=%d write=%d" ..
    " status=%d timeout=%d\n",
    summary.requests, summary.duration, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), bad, e.connect, e.read, e.write, e.status, e.timeout))
end
