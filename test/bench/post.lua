-- wrk script: POST the JSON body in $BENCH_BODY with the Bearer secret in
-- $BENCH_SECRET, and print one machine-readable line at the end:
--   RESULT <requests> <duration µs> <non-2xx/3xx> <socket errors> <p99 µs>
-- Used by wrk.sh; by hand:
--   BENCH_BODY='{"sub":"bench"}' BENCH_SECRET=... wrk -t2 -c64 -d10s --latency \
--     -s test/bench/post.lua http://127.0.0.1:8080/v1/tokens
local body = os.getenv("BENCH_BODY")
local secret = os.getenv("BENCH_SECRET")
if body == nil or secret == nil then
  error("set BENCH_BODY and BENCH_SECRET")
end
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. secret

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(99)))
end
