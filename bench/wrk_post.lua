-- wrk script: POST unique events to /events; record the id of every 202.
-- Each wrk thread appends the ids it got a 202 for to "<prefix><thread number>", one per line,
-- so the benchmark can check that every acknowledged event is in the queue. A third argument,
-- when given, is sent as every request's traceparent header; a fourth, when not empty, is a
-- bearer token every request carries (a producer reuses its token).
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1]
  pad = string.rep("x", tonumber(args[2] or "64"))
  n = 0
  accepted = 0
  refused = 0
  out = io.open(prefix .. tid, "w")
  out:setvbuf("line")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[3] and args[3] ~= "" then
    wrk.headers["traceparent"] = args[3]
  end
  if args[4] and args[4] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[4]
  end
end

function request()
  n = n + 1
  local body = string.format(
    '{"id":"t%d-%d","type":"bench.event","data":{"n":%d,"pad":"%s"}}', tid, n, n, pad)
  return wrk.format(nil, "/events", nil, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
    out:write(string.match(body, '"id": "([^"]+)"'), "\n")
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local a, r = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    r = r + t:get("refused")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"accepted":%d,"refused":%d,"completed":%d,"duration_us":%d,' ..
    '"p50_us":%d,"p99_us":%d,"socket_errors":%d}\n',
    a, r, summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout))
end
