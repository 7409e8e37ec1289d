-- bench_line.lua - the one line post.lua and get.lua print for run.sh
-- (loaded with dofile from beside them):
--   BENCH requests=N duration_us=N rps=X p50_us=N p90_us=N p99_us=N
--         max_us=N status_errors=N (HTTP status > 399) connect=N read=N
--         write=N timeout=N wrapped=N
function bench_line(summary, latency, wrapped)
   local e = summary.errors
   return string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d " ..
      "max_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d wrapped=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.status, e.connect, e.read, e.write, e.timeout, wrapped)
end
