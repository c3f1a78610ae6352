#!/usr/bin/env bash
# Query latency over HTTP (issue 11): a product's first page of reviews (public, LMDB
# replica) and a customer's order list (PostgreSQL), driven by wrk at CONNECTIONS against
# the default `shopstream serve` (release build, on the mock cluster unless SERVE_KAFKA),
# idle and then under a concurrent command load that keeps both projections writing.
#
#   benchmarks/http/queries.sh [seconds=15] [connections=32] [rows=200]
#
# Seeds ROWS reviews of one product (one per customer) and ROWS orders of one customer,
# waits until both read models show them, then measures, each for SECONDS:
#   ceiling  GET /healthz at the same connections (no token, no store, no read pool);
#   reviews  GET /v1/products/{sku}/reviews?limit=20 (first page, newest first);
#   orders   GET /v1/orders?customerId=...&limit=20 (the customer's token);
# then reviews and orders again while a second wrk (LOAD_CONNECTIONS=4, the `both` mix of
# commands.lua) places orders and submits reviews. Targets: reviews p99 <= 5 ms, orders
# p99 <= 5 ms at 32 connections. One summary line per phase.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}
connections=${2:-32}
rows=${3:-200}
load_connections=${LOAD_CONNECTIONS:-4}
SERVE_ARGS=(--rate-limit 0)
. benchmarks/http/serve.sh

sku=sku-queries
buyer=c-queries-buyer
buyer_token=$("$bin" token --jwt-secret "$secret" --sub "$buyer" --role customer --ttl 1h)
order_body='{"lines":[{"sku":"sku-1","quantity":2,"unitPrice":{"amount":1250,"currency":"EUR"}}],"paymentMethod":{"token":"tok_visa"}}'
echo "seeding $rows reviews of $sku and $rows orders of $buyer"
for i in $(seq 1 "$rows"); do
  author=$("$bin" token --jwt-secret "$secret" --sub "c-queries-$i" --role customer --ttl 1h)
  curl -sf -o /dev/null -X POST "$base/v1/products/$sku/reviews" -H "Authorization: Bearer $author" \
    -H 'Content-Type: application/json' -d "{\"rating\":$(( i % 5 + 1 )),\"title\":\"Review $i\",\"body\":\"Body $i\"}" ||
    { echo "cannot submit review $i" >&2; exit 1; }
  curl -sf -o /dev/null -X POST "$base/v1/orders" -H "Authorization: Bearer $buyer_token" \
    -H 'Content-Type: application/json' -d "$order_body" || { echo "cannot place order $i" >&2; exit 1; }
done
# Both read models have applied every seeded command (bounded: 60 s).
count_reviews() { curl -sf "$base/v1/products/$sku/rating" | sed -n 's/.*"count":\([0-9]*\).*/\1/p'; }
count_orders() {
  local n=0 after="" page
  while :; do
    page=$(curl -sf "$base/v1/orders?customerId=$buyer&limit=100${after:+&after=$after}" -H "Authorization: Bearer $buyer_token")
    n=$(( n + $(printf '%s' "$page" | grep -o '"orderId"' | wc -l) ))
    after=$(printf '%s' "$page" | sed -n 's/.*"next":"\([^"]*\)".*/\1/p')
    [ -n "$after" ] || break
  done
  echo "$n"
}
for _ in $(seq 1 600); do
  [ "$(count_reviews)" = "$rows" ] && [ "$(count_orders)" = "$rows" ] && break
  sleep 0.1
done
[ "$(count_reviews)" = "$rows" ] || { echo "the reviews model shows $(count_reviews) of $rows reviews" >&2; exit 1; }
[ "$(count_orders)" = "$rows" ] || { echo "the orders model shows $(count_orders) of $rows orders" >&2; exit 1; }

# phase NAME [wrk arguments...]: wrk's report, then one summary line.
phase() {
  local name=$1
  shift
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" >"$work/$name.out"
  local non2xx
  non2xx=$(awk '/Non-2xx/{print $NF}' "$work/$name.out")
  printf '%-16s %10s requests/s  p50 %-8s p99 %-8s%s\n' "$name" "$(awk '/Requests\/sec/{print $2}' "$work/$name.out")" \
    "$(awk '$1=="50%"{print $2}' "$work/$name.out")" "$(awk '$1=="99%"{print $2}' "$work/$name.out")" \
    "${non2xx:+  non-2xx $non2xx}"
}
reviews_url="$base/v1/products/$sku/reviews?limit=20"
orders_url="$base/v1/orders?customerId=$buyer&limit=20"
echo "serve at $base; wrk 2 threads, $connections connections, ${seconds}s per phase; load average $(cut -d' ' -f1-3 /proc/loadavg)"
phase ceiling "$base/healthz"
phase reviews "$reviews_url"
phase orders -H "Authorization: Bearer $buyer_token" "$orders_url"

tokens=""
for i in 1 2 3 4; do tokens="${tokens:+$tokens,}$("$bin" token --jwt-secret "$secret" --sub "bench-load-$i" --role customer --ttl 1h)"; done
MIX=both TOKENS=$tokens wrk -t1 -c"$load_connections" -d"$(( 2 * seconds + 5 ))s" -s benchmarks/http/commands.lua "$base" \
  >"$work/load.out" &
load=$!
sleep 2  # the command load ramps up before the measured phases
phase reviews_loaded "$reviews_url"
phase orders_loaded -H "Authorization: Bearer $buyer_token" "$orders_url"
wait "$load" || true
echo "concurrent command load: $(sed -n 's/.*accepted_per_s=\([0-9]*\).*/\1/p' "$work/load.out") commands/s accepted ($load_connections connections)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
