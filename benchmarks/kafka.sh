#!/usr/bin/env bash
# eventstore_bench on every backend, one after another, each against its own ceilings
# (raw idempotent produce and raw consume of records of the commit's size, same broker,
# same run) - issue 10:
#
#   benchmarks/kafka.sh [commands=100000] [backends="mock local three"]
#
#   mock   librdkafka's in-process mock cluster (3 brokers), as `serve --kafka mock`
#   local  the local single-node Apache Kafka exactly as `serve` starts it without --brokers
#          (adapters/kafka/local_broker, through benchmarks/kafka_nodes)
#   three  the tests' three-broker KRaft cluster (tests/support/kafka_cluster), three JVMs
#
# Beside each real-broker figure eventstore_bench prints the JVMs' resident memory (VmRSS)
# and CPU share (utime+stime over the phase, in cores). The load average is printed
# before and after each backend: the machine may be shared. KAFKA_SETTINGS="k=v k=v" adds
# lines to every broker's server.properties (e.g. log.flush.interval.messages=1).
set -euo pipefail
cd "$(dirname "$0")/.."
commands=${1:-100000}
backends=${2:-mock local three}
./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j2 --target eventstore_bench kafka_nodes >/dev/null
bench=build/release/benchmarks/eventstore_bench
nodes=build/release/benchmarks/kafka_nodes
settings=()
for s in ${KAFKA_SETTINGS:-}; do settings+=(--setting "$s"); done

work=$(mktemp -d)
kafka=""
stop_kafka() {
  if [ -n "$kafka" ]; then
    kill -TERM "$kafka" 2>/dev/null || true
    wait "$kafka" 2>/dev/null || true
    kafka=""
  fi
}
trap 'stop_kafka; rm -rf "$work"' EXIT

# start_kafka N: sets `bootstrap` and `pids` once every node answers.
start_kafka() {
  local out="$work/nodes-$1.out"
  "$nodes" --nodes "$1" --dir "$work/kafka-$1" "${settings[@]}" >"$out" 2>"$work/nodes-$1.err" &
  kafka=$!
  for _ in $(seq 1 1800); do
    grep -q '^bootstrap=' "$out" 2>/dev/null && break
    kill -0 "$kafka" 2>/dev/null || { cat "$work/nodes-$1.err" >&2; exit 1; }
    sleep 0.1
  done
  bootstrap=$(sed -n 's/^bootstrap=\([^ ]*\) .*/\1/p' "$out")
  pids=$(sed -n 's/.* pids=\(.*\)$/\1/p' "$out")
  [ -n "$bootstrap" ] || { echo "Kafka did not start" >&2; cat "$work/nodes-$1.err" >&2; exit 1; }
}

for backend in $backends; do
  echo "== $backend: load average $(cut -d' ' -f1-3 /proc/loadavg) ${KAFKA_SETTINGS:+(broker settings: $KAFKA_SETTINGS)}"
  case $backend in
    mock) "$bench" --commands "$commands" ;;
    local | three)
      n=1
      [ "$backend" = three ] && n=3
      start_kafka "$n"
      "$bench" --commands "$commands" --brokers "$bootstrap" --jvm-pids "$pids"
      stop_kafka
      ;;
    *) echo "unknown backend $backend (mock, local, three)" >&2; exit 2 ;;
  esac
  echo "== $backend done: load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
