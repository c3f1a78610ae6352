#!/usr/bin/env bash
# HTTP command throughput (issue #4): the default `shopstream serve` (embedded cluster,
# release build) driven by wrk on this machine.
#
#   benchmarks/http/run.sh [seconds=30] [connections=64] [principals=8]
#
# Runs three mixes (reviews, orders, both) one after another against one server and
# prints wrk's report plus one summary line per mix (accepted commands/s, p50/p99).
# Environment: SERVE_ARGS (extra `serve` flags, e.g. "--rate-limit 0"), MIXES (a subset of
# "reviews orders both").
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
connections=${2:-64}
principals=${3:-8}
read -r -a SERVE_ARGS <<<"${SERVE_ARGS:-}"

. benchmarks/http/serve.sh

tokens=""
for i in $(seq 1 "$principals"); do
  t=$("$bin" token --jwt-secret "$secret" --sub "bench-$i" --role customer --ttl 1h)
  tokens="${tokens:+$tokens,}$t"
done

echo "serve at $base; wrk: 2 threads, $connections connections, ${seconds}s per mix, $principals principals"
for mix in ${MIXES:-reviews orders both}; do
  MIX=$mix TOKENS=$tokens wrk -t2 -c"$connections" -d"${seconds}s" --latency \
    -s benchmarks/http/commands.lua "$base"
done
