-- wrk: POST requests that differ every time. Set by the runner through environment variables:
--   BENCH_KIND=submit: a form without files (a new text each time, so that none is a duplicate)
--   BENCH_KIND=approve: approve the pending items listed in the file BENCH_IDS, one after another
local kind = os.getenv("BENCH_KIND")
local cookie = os.getenv("BENCH_COOKIE") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local ids = {}
if os.getenv("BENCH_IDS") then
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
end
local counter = 0
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")

request = function()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie,
                   ["X-CSRFToken"] = token, ["Connection"] = wrk.headers["Connection"]}
  if kind == "approve" then
    local id = ids[(counter - 1) * thread_count + thread_id + 1] or ids[1]
    return wrk.format("POST", "/moderation/" .. id .. "/approve", headers, "version=1")
  end
  local body = "telegram=bench_sender&body=Benchmark+text+" .. thread_id .. "+" .. counter .. "+" .. math.random(1e9)
  return wrk.format("POST", "/submit/information", headers, body)
end
