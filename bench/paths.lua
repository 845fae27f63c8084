-- wrk: GET requests that go round a list of paths (one per line in the file named by the global paths_file,
-- which the runner sets in a line before this script, or by BENCH_PATHS). With BENCH_UNIQUE=1
-- each request also gets a number of its own, so that no two are the same page (nothing is served from a cache).
local paths = {}
for line in io.lines(paths_file or os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local unique = os.getenv("BENCH_UNIQUE") == "1"
local counter = 0

request = function()
  counter = counter + 1
  local path = paths[(counter + thread_id) % #paths + 1]
  if unique then path = path .. "&n=" .. thread_id .. "-" .. counter end
  return wrk.format("GET", path)
end
