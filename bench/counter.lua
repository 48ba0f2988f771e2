-- wrk script for bench/e2e.py: one cookie jar per thread (run with -t N -c N: one connection per
-- thread), and a check of every response: the k-th 200 seen by a connection must say k visits.
--   BENCH_COOKIE  cookie name to capture from Set-Cookie and send back (default connect.sid)
--   BENCH_CHECK   "0" to skip the counter check (the bare app has no session)
--   BENCH_SEND    a Cookie header to send from the first request on (default: none until one is set)
-- done() prints one line "BENCHJSON {...}" with totals, latency percentiles and per-thread counts.

local cookie_name = os.getenv("BENCH_COOKIE") or "connect.sid"
local check = os.getenv("BENCH_CHECK") ~= "0"
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function init(args)
  jar = os.getenv("BENCH_SEND")  -- "name=value" to send back
  if jar == "" then jar = nil end
  req = nil        -- the request, formatted once per cookie
  seen = 0         -- 200 responses on this connection
  last = -1        -- last counter seen
  bad = 0          -- responses whose counter was not seen
  non200 = 0
  cookies = 0      -- Set-Cookie headers for our cookie received
  first_bad = ""
end

function request()
  if req == nil then
    if jar then
      req = wrk.format(nil, nil, { ["Cookie"] = jar })
    else
      return wrk.format(nil, nil)
    end
  end
  return req
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    return
  end
  for name, value in pairs(headers) do
    if string.lower(name) == "set-cookie" then
      local pair = string.match(value, "^%s*([^;]*)")
      if pair and string.sub(pair, 1, #cookie_name + 1) == cookie_name .. "=" then
        cookies = cookies + 1
        if pair ~= jar then
          jar = pair
          req = nil
        end
      end
    end
  end
  seen = seen + 1
  local n = tonumber(string.match(body or "", "(%d+)"))
  last = n or -1
  if check and n ~= seen then
    bad = bad + 1
    if first_bad == "" then
      first_bad = "response " .. seen .. " said " .. tostring(n)
    end
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '["\\]', "\\%0") .. '"'
end

function done(summary, latency, requests)
  local per = {}
  for _, t in ipairs(threads) do
    per[#per + 1] = string.format(
      '{"id":%d,"seen":%d,"last":%d,"bad":%d,"non200":%d,"cookies":%d,"first_bad":%s}',
      t:get("id"), t:get("seen"), t:get("last"), t:get("bad"), t:get("non200"), t:get("cookies"),
      json_string(t:get("first_bad")))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},"threads":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(per, ",")))
end
