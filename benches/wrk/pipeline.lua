-- wrk script for the pipelined HTTP row of benches/compare.sh: every write carries
-- PIPELINE_DEPTH (default 16) keep-alive `GET /` requests back to back; wrk counts each
-- response. Ends with the same JSON line as report.lua (latency is per batch of requests).

local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "16")
local batch

init = function(args)
  batch = string.rep(wrk.format("GET", "/"), depth)
end

request = function()
  return batch
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '{"requests_per_s": %.1f, "requests": %d, "duration_s": %.3f, "errors": %d, ' ..
    '"non_2xx": %d, "latency_p50_us": %.1f, "latency_p99_us": %.1f, "latency_max_us": %.1f, ' ..
    '"pipeline_depth": %d}\n',
    summary.requests / seconds, summary.requests, seconds,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max, depth))
end
