-- wrk_bodies.lua at a set pace: each connection waits about the given milliseconds
-- before each request, so C connections send about C × 1000 / (wait + latency) requests
-- a second (the bench reads the rate wrk reached, not the one it asked for).
-- The wait is drawn uniformly from 0 to twice the given one: connections that all waited
-- the same time would fire together, in bursts of C requests, which independent senders
-- do not do; the mean wait, and so the pace, is the same.
-- Arguments after `--`: the expected status, the bodies file, the thread count, the wait.
dofile("wrk_bodies.lua")

local init_paced_bodies = init_bodies

function init_bodies(args)
  init_paced_bodies(args)
  wait_ms = tonumber(args[4])
  math.randomseed(os.time() * 100 + index)
end

function delay()
  return math.floor(math.random() * 2 * wait_ms)
end
