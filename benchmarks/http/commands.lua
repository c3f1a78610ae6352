-- wrk script: accepted commands per second through the HTTP API (issue #4).
--
--   MIX=reviews|orders|both  TOKENS=tok1,tok2,...  [DELAY_MS=n]  wrk -s benchmarks/http/commands.lua URL
--
-- reviews: POST /v1/products/{sku}/reviews, every request a new review (a new sku per
--          request, so a new aggregate: no request waits for another's verdict);
-- orders:  POST /v1/orders (the server makes up the order id);
-- both:    alternating.
-- Requests rotate over the principals in TOKENS (JWTs), so the per-principal rate limit
-- sees a handful of callers as a benchmark from a few clients would. DELAY_MS > 0: each
-- connection waits that long before each request (a paced load, not the most it takes). Every answer that is
-- not 200/201 is counted and the first one's status and body printed at the end.

local tokens = {}
for t in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do tokens[#tokens + 1] = t end
if #tokens == 0 then
  io.stderr:write("commands.lua: set TOKENS to a comma-separated list of JWTs\n")
  os.exit(2)
end
local mix = os.getenv("MIX") or "both"
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0") or 0
if delay_ms > 0 then
  function delay() return delay_ms end
end

local threads = {}
function setup(thread)
  thread:set("thread_id", #threads)
  threads[#threads + 1] = thread
end

local order_body =
  '{"paymentMethod":{"token":"tok_visa"},' ..
  '"lines":[{"sku":"sku-1","quantity":2,"unitPrice":{"amount":1250,"currency":"EUR"}},' ..
  '{"sku":"sku-2","quantity":1,"unitPrice":{"amount":999,"currency":"EUR"}}]}'
local review_body = '{"rating":4,"title":"Good","body":"Does what it says on the box."}'

counter = 0
accepted = 0
refused = 0
first_refusal = ""

function request()
  counter = counter + 1
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }
  if mix == "orders" or (mix == "both" and counter % 2 == 0) then
    return wrk.format("POST", "/v1/orders", headers, order_body)
  end
  return wrk.format("POST", "/v1/products/b" .. thread_id .. "-" .. counter .. "/reviews", headers, review_body)
end

function response(status, headers, body)
  if status == 200 or status == 201 then
    accepted = accepted + 1
  else
    refused = refused + 1
    if first_refusal == "" then first_refusal = status .. " " .. body end
  end
end

function done(summary, latency, requests)
  local ok, bad, first = 0, 0, ""
  for _, t in ipairs(threads) do
    ok = ok + t:get("accepted")
    bad = bad + t:get("refused")
    if first == "" then first = t:get("first_refusal") end
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("mix=%s accepted=%d refused=%d accepted_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n",
    mix, ok, bad, ok / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  if bad > 0 then io.write("first refusal: " .. first .. "\n") end
end
