-- wrk script for plain HTTP rows of benches/compare.sh: one request per write (wrk's
-- default) and, when the run ends, one JSON line on stdout that the comparison parses.

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '{"requests_per_s": %.1f, "requests": %d, "duration_s": %.3f, "errors": %d, ' ..
    '"non_2xx": %d, "latency_p50_us": %.1f, "latency_p99_us": %.1f, "latency_max_us": %.1f}\n',
    summary.requests / seconds, summary.requests, seconds,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
