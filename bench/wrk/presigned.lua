-- bench/wrk/presigned.lua: wrk replays pre-signed Prolific deliveries.
--
--   receiver loadgen presign -count 500000 -files 2 -out /tmp/reqs -url URL
--   wrk -t2 -c256 -d10s -s bench/wrk/presigned.lua URL -- /tmp/reqs [READY]
--
-- Thread k reads PREFIX.k, written by `receiver loadgen presign` (each record
-- is its length in bytes on a line, then one complete HTTP/1.1 request), and
-- sends each record once, in order, so no two requests share an X-Event-ID.
-- A thread that runs out starts its file again (those requests are
-- duplicates) and the report counts the wraps. request() only hands back a
-- string read before the run: the generator's own cost per request is wrk's
-- socket work and one Lua call.
--
-- With READY, thread k creates the file READY.k once it has read its
-- requests, so a harness can start counting CPU time after the loading.
--
-- done() prints one JSON object on stdout: requests (answers read), ok
-- (those with a status below 400; the receiver answers 2xx or 4xx/5xx),
-- failed (4xx/5xx answers and socket errors), errors by kind, elapsed
-- seconds, latency percentiles (ms) and wraps.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs, n, i = {}, 0, 0
wraps = 0 -- a global, so that done() can read it from each thread

function init(args)
  local prefix = args[1]
  if not prefix then
    error("presigned.lua: pass the prefix of the pre-signed request files after --")
  end
  local path = prefix .. "." .. index
  local f = assert(io.open(path, "rb"))
  while true do
    local line = f:read("*l")
    if not line then break end
    local len = tonumber(line)
    if not len then error("presigned.lua: " .. path .. ": bad record length " .. line) end
    local r = f:read(len)
    if not r or #r ~= len then error("presigned.lua: " .. path .. ": truncated record") end
    n = n + 1
    reqs[n] = r
  end
  f:close()
  if n == 0 then error("presigned.lua: " .. path .. " holds no requests") end
  if args[2] then
    assert(io.open(args[2] .. "." .. index, "w")):close()
  end
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wraps = wraps + 1
  end
  return reqs[i]
end

function done(summary, latency, requests)
  local total_wraps = 0
  for _, t in ipairs(threads) do
    total_wraps = total_wraps + (tonumber(t:get("wraps")) or 0)
  end
  local e = summary.errors
  local failed = e.status + e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    '{"requests": %d, "ok": %d, "failed": %d, "non2xx": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "elapsed_seconds": %.6f, "wraps": %d, ' ..
    '"latency": {"p50_ms": %.3f, "p99_ms": %.3f, "p99_9_ms": %.3f, "max_ms": %.3f}}\n',
    summary.requests, summary.requests - e.status, failed, e.status, e.connect, e.read, e.write, e.timeout,
    summary.duration / 1e6, total_wraps,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000))
end
