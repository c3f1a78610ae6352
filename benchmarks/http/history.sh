#!/usr/bin/env bash
# Single-aggregate history reads over HTTP (issue 9): `GET /v1/reviews/{id}/events` of a
# review with EVENTS events (submitted, then edited), served from the state store, driven
# by wrk on this machine against the default `shopstream serve` (release build).
#
#   benchmarks/http/history.sh [seconds=20] [connections=8] [events=10]
#
# Prints wrk's report (latency percentiles with --latency) and one summary line. The
# ceiling is measured in the same run, right before: GET /healthz at the same
# connections (answered on the event loop: no token, no store, no read pool), so figures
# taken on a loaded machine can be quoted as a ratio to it.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
connections=${2:-8}
events=${3:-10}
SERVE_ARGS=(--rate-limit 0)
. benchmarks/http/serve.sh

author=$("$bin" token --jwt-secret "$secret" --sub bench-author --role customer --ttl 1h)
admin=$("$bin" token --jwt-secret "$secret" --sub bench-admin --role admin --ttl 1h)
created=$(curl -sf -X POST "$base/v1/products/sku-bench/reviews" -H "Authorization: Bearer $author" \
  -H 'Content-Type: application/json' -d '{"rating":4,"title":"Fine","body":"Works"}')
id=$(printf '%s' "$created" | sed -n 's/.*"reviewId":"\([^"]*\)".*/\1/p')
[ -n "$id" ] || { echo "cannot create the review: $created" >&2; exit 1; }
for i in $(seq 2 "$events"); do
  curl -sf -X PUT "$base/v1/reviews/$id" -H "Authorization: Bearer $author" \
    -H 'Content-Type: application/json' -d "{\"rating\":$(( i % 5 + 1 )),\"title\":\"Edit $i\",\"body\":\"Body $i\"}" >/dev/null
done
got=$(curl -sf "$base/v1/reviews/$id/events" -H "Authorization: Bearer $admin" | grep -o '"version":' | wc -l)
[ "$got" -eq "$events" ] || { echo "the history has $got events, not $events" >&2; exit 1; }

echo "serve at $base; ceiling: wrk 2 threads, $connections connections, ${seconds}s, GET /healthz"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "$base/healthz" | tee "$work/ceiling.out"
echo "serve at $base; wrk: 2 threads, $connections connections, ${seconds}s, GET /v1/reviews/$id/events ($events events)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $admin" \
  "$base/v1/reviews/$id/events" | tee "$work/wrk.out"
p50=$(awk '$1=="50%"{print $2}' "$work/wrk.out")
p99=$(awk '$1=="99%"{print $2}' "$work/wrk.out")
rps=$(awk '/Requests\/sec/{print $2}' "$work/wrk.out")
echo "history: $rps reads/s, p50 $p50, p99 $p99 (target p99 <= 2 ms at 8 connections)"
c50=$(awk '$1=="50%"{print $2}' "$work/ceiling.out")
c99=$(awk '$1=="99%"{print $2}' "$work/ceiling.out")
crps=$(awk '/Requests\/sec/{print $2}' "$work/ceiling.out")
echo "ceiling (/healthz): $crps requests/s, p50 $c50, p99 $c99"
