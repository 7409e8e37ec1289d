-- get.lua - wrk script for bench/run.sh: GET the status, with
-- "Authorization: Bearer $BENCH_STATUS_TOKEN" when that is set (the whole
-- document, as a monitor asks for it).
--
-- done() prints the machine-readable line post.lua prints (bench_line.lua;
-- status_errors counts answers over 399: a degraded status's 503 too).

-- bench_line(): the BENCH line, shared with the other script.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "bench_line.lua")

local token = os.getenv("BENCH_STATUS_TOKEN")

function init(args)
   wrk.method = "GET"
   if token ~= nil and token ~= "" then
      wrk.headers["Authorization"] = "Bearer " .. token
   end
end

function done(summary, latency, requests)
   io.write(bench_line(summary, latency, 0))
end
