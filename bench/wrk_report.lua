-- wrk's summary as one parseable line (E2A_WRK ...), with a count of answers whose
-- status is not the one expected (wrk itself counts any answer as a success).
-- Arguments after `--`: the expected status (default 200). Used by bench/wrk.py.
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  expected = tonumber(args[1] or "200")
  unexpected = 0
  first_unexpected = ""
  if init_bodies then
    init_bodies(args)
  end
end

function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
    if first_unexpected == "" then
      first_unexpected = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local bad = 0
  local sample = ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("unexpected")
    if sample == "" then
      sample = thread:get("first_unexpected")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "E2A_WRK requests=%d duration_us=%d mean_us=%.1f stdev_us=%.1f max_us=%d" ..
    " p50_us=%d p90_us=%d p95_us=%d p99_us=%d unexpected=%d connect=%d read=%d" ..
    " write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), bad, e.connect, e.read, e.write, e.status, e.timeout))
  if sample ~= "" then
    io.write("E2A_WRK_SAMPLE " .. string.gsub(sample, "\n", " ") .. "\n")
  end
end
