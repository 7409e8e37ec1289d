-- post.lua - wrk script for bench/run.sh: POST signed ~1 KiB Caliza events.
--
-- Environment (set by run.sh):
--   BENCH_TEMPLATE  body template (bodies.py body): the resourceId is a
--                   24-byte token replaced per request
--   BENCH_POOL      "RID SIGNATURE" lines (bodies.py pool): every request
--                   posts a distinct, correctly signed event; each wrk
--                   thread takes every BENCH_THREADS-th line from line
--                   BENCH_THREADS*k + its index, so threads never share one
--   BENCH_THREADS   wrk's -t
--   BENCH_POOL_SKIP optional: ignore the pool's first lines (a later run
--                   against the same spool must not repeat earlier events)
--   BENCH_REPEAT    optional: send each event this many times in a row
--                   (2: a retry storm, the second delivery a duplicate)
-- The request is built by hand (not wrk.format) to keep the client cheap:
-- the client shares the machine's cores with the server.
--
-- done() prints one machine-readable line for run.sh:
--   BENCH requests=N duration_us=N rps=X p50_us=N p90_us=N p99_us=N
--         max_us=N status_errors=N (HTTP status > 399) connect=N read=N
--         write=N timeout=N wrapped=N (a thread ran out of pool and reused
--         events: with dedup on those are answered as duplicates)

-- bench_line(): the BENCH line, shared with the other script.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "bench_line.lua")

local TOKEN = "@RID@@@@@@@@@@@@@@@@@@@@"
local rids, sigs, n, i = {}, {}, 0, 0
local repeat_n, sent = 1, 0
local head, pre, post = nil, nil, nil
wrapped = 0
local threads = {}
local thread_count = 0

local function slurp(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("*a")
   f:close()
   return s
end

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function init(args)
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local body = slurp((assert(os.getenv("BENCH_TEMPLATE"), "BENCH_TEMPLATE")))
   local at = assert(body:find(TOKEN, 1, true), "no token in the template")
   pre, post = body:sub(1, at - 1), body:sub(at + #TOKEN)
   local skip = tonumber(os.getenv("BENCH_POOL_SKIP") or "0")
   local ln = 0
   for line in io.lines((assert(os.getenv("BENCH_POOL"), "BENCH_POOL"))) do
      if ln >= skip and ln % nthreads == tid then
         n = n + 1
         rids[n] = line:sub(1, 24)
         sigs[n] = line:sub(26)
      end
      ln = ln + 1
   end
   assert(n > 0, "empty pool")
   repeat_n = tonumber(os.getenv("BENCH_REPEAT") or "1")
   head = "POST " .. wrk.path .. " HTTP/1.1\r\n" ..
          "Host: " .. wrk.headers["Host"] .. "\r\n" ..
          "Content-Type: application/json\r\n" ..
          "Content-Length: " .. #body .. "\r\n" ..
          "X-Caliza-Webhook-Signature: "
end

function request()
   if sent % repeat_n ~= 0 then
      sent = sent + 1
      return head .. sigs[i] .. "\r\n\r\n" .. pre .. rids[i] .. post
   end
   sent = sent + 1
   i = i + 1
   if i > n then i = 1; wrapped = wrapped + 1 end
   return head .. sigs[i] .. "\r\n\r\n" .. pre .. rids[i] .. post
end

function done(summary, latency, requests)
   local w = 0
   for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
   io.write(bench_line(summary, latency, w))
end
