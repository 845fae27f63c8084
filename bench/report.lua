-- Every script of the runner ends with this one: what they share is here.

-- Each wrk thread gets a number (thread_id), so that scripts can spread their requests over the threads.
thread_id = 0
local next_id = 0
setup = function(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

-- BENCH_CLOSE=1: a new connection for every request, as behind nginx (which by default opens one per request
-- to the app). With a few long-lived connections, gunicorn keeps each on the worker that accepted it, and two
-- may share one worker (one core) while another idles.
if os.getenv("BENCH_CLOSE") == "1" then wrk.headers["Connection"] = "close" end

-- wrk: print one JSON line with the rate and the latency percentiles (wrk's own summary has no p95).
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "errors": %d, "non2xx_3xx": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
