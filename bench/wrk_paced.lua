-- wrk_bodies.lua at a set pace: each connection waits the given milliseconds before
-- each request, so C connections send about C × 1000 / (wait + latency) requests a
-- second (the bench reads the rate wrk reached, not the one it asked for).
-- Arguments after `--`: the expected status, the bodies file, the thread count, the wait.
dofile("wrk_bodies.lua")

local init_paced_bodies = init_bodies

function init_bodies(args)
  init_paced_bodies(args)
  wait_ms = tonumber(args[4])
end

function delay()
  return wait_ms
end
