-- wrk_report.lua plus one POST body per request, read from a file of one body per
-- line: thread i of n sends lines i, i + n, i + 2n, ... so no two requests share a body
-- (unique event ids) until a thread runs out and starts again (the bench makes enough).
-- Arguments after `--`: the expected status, the bodies file, the thread count.
dofile("wrk_report.lua")

function init_bodies(args)
  bodies = {}
  local count = tonumber(args[3])
  local n = 0
  for line in io.lines(args[2]) do
    if n % count == index then
      table.insert(bodies, line)
    end
    n = n + 1
  end
  next_body = 0
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, nil, bodies[next_body])
end
