#!/usr/bin/env bash
# HTTP command throughput (issues #4, 10): `shopstream serve` (release build) driven by wrk
# on this machine, on the mock cluster or (SERVE_KAFKA=local) the default run's local Kafka.
#
#   benchmarks/http/run.sh [seconds=30] [connections=64] [principals=8]
#
# Runs three mixes (reviews, orders, both) one after another against one server and
# prints wrk's report plus one summary line per mix (accepted commands/s, p50/p99), the
# load average, and on the local broker its JVM's VmRSS and CPU share over the mix.
# With HALF_LOAD=1 each mix runs a second time paced at about half the rate it reached
# (each connection waits 2 x connections / rate between requests, wrk's delay()): the
# latency to verdict at half load.
# Environment: SERVE_KAFKA (mock | local), SERVE_ARGS (extra `serve` flags, e.g.
# "--rate-limit 0"), MIXES (a subset of "reviews orders both"), HALF_LOAD.
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

# one_mix MIX DELAY_MS: wrk's report, then the JVM's figures over the mix.
one_mix() {
  local before=0 t0 t1
  [ -n "$jvm_pid" ] && before=$(jvm_ticks)
  t0=$(date +%s.%N)
  MIX=$1 TOKENS=$tokens DELAY_MS=$2 wrk -t2 -c"$connections" -d"${seconds}s" --latency \
    -s benchmarks/http/commands.lua "$base" | tee "$work/mix.out"
  t1=$(date +%s.%N)
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -n "$jvm_pid" ]; then
    echo "JVM: RSS $(jvm_rss_mib) MiB, CPU $(echo "scale=2; ($(jvm_ticks) - $before) / $(getconf CLK_TCK) / ($t1 - $t0)" | bc) cores over the mix"
  fi
}

echo "serve at $base (${SERVE_KAFKA:-mock}); wrk: 2 threads, $connections connections, ${seconds}s per mix, $principals principals"
for mix in ${MIXES:-reviews orders both}; do
  one_mix "$mix" 0
  if [ -n "${HALF_LOAD:-}" ]; then
    rate=$(sed -n 's/.*accepted_per_s=\([0-9]*\).*/\1/p' "$work/mix.out")
    delay=$(( 2 * connections * 1000 / (rate > 0 ? rate : 1) ))
    echo "half load: $mix again, each connection waiting ${delay} ms between requests (full load was $rate/s)"
    one_mix "$mix" "$delay"
  fi
done
