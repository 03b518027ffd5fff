-- submit.lua's requests and figures, with wrk's threads spread over the intake replicas of
-- tests/benchmarks/pipeline.py --replicas: thread i connects to the i-th port of BENCH_PORTS (in turn), so one
-- wrk drives them all and its latency percentiles are of all their answers together.
dofile(os.getenv("BENCH_SUBMIT"))

local ports, addresses, started = {}, nil, 0
for port in os.getenv("BENCH_PORTS"):gmatch("%d+") do
  table.insert(ports, port)
end

function setup(thread)
  if not addresses then
    addresses = {}
    for i, port in ipairs(ports) do
      addresses[i] = wrk.lookup(wrk.host, port)[1]
    end
  end
  thread.addr = addresses[started % #addresses + 1]
  started = started + 1
end
