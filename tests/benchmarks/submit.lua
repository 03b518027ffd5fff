-- POST /v1/requests for tests/benchmarks/pipeline.py; the body and the API key come from the environment.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

-- Parsable lines for the benchmark: errors.status counts responses with a status >= 400.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("ACCEPTED %d\n", summary.requests - e.status))
  io.write(string.format("NON2XX %d\n", e.status))
  io.write(string.format("DURATION_US %d\n", summary.duration))
  io.write(string.format("SOCKET_ERRORS %d %d %d %d\n", e.connect, e.read, e.write, e.timeout))
  io.write(string.format("LATENCY_US %d %d %d %d %d\n", latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
