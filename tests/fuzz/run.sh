#!/usr/bin/env bash
# Builds the fuzz tree (the `fuzz` preset: clang-19, libFuzzer, ASan + UBSan, in
# build/fuzz) and runs every fuzz target from its seed corpus (tests/fuzz/<target>/), as
# many at once as there are cores; fails if any target crashes, leaks, times out or
# breaks an invariant. A crashing input is left in build/fuzz/artifacts/.
#
#   tests/fuzz/run.sh                 the CI smoke: 5000 inputs per target (FUZZ_RUNS)
#   tests/fuzz/run.sh -runs=N         N inputs per target
#   tests/fuzz/run.sh SECONDS         each target for SECONDS (also FUZZ_SECONDS=...)
#   tests/fuzz/run.sh BUDGET TARGET…  only the named targets (commit, jwt, ...)
#
# What a run finds beyond the seeds is kept in build/fuzz/corpus/<target>/ and used by
# the next run; the seeds are never written to. Logs: build/fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/../.."

all_targets=(commit order_events payment_events review_events order_state payment_state
             review_state json_commands jwt position cursor)

budget="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$budget" ]; then
  if [ -n "${FUZZ_SECONDS:-}" ]; then budget="$FUZZ_SECONDS"; else budget="-runs=${FUZZ_RUNS:-5000}"; fi
fi
case "$budget" in
  -runs=[0-9]*) limit=("$budget") ;;
  [0-9]*) limit=("-max_total_time=$budget") ;;
  *) echo "usage: $0 [SECONDS | -runs=N] [TARGET...]" >&2; exit 2 ;;
esac
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

# Crash reports name functions and lines only with clang's own symbolizer.
export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-19/bin/llvm-symbolizer}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

bin=build/fuzz/tests/fuzz
mkdir -p build/fuzz/logs build/fuzz/artifacts
run_one() {
  local t="$1"
  mkdir -p "build/fuzz/corpus/$t"
  # -timeout: one input taking a second is a bug here (every decoder is linear); it is
  # wall time, so a long run at low priority on a shared machine raises it (FUZZ_TIMEOUT=120)
  # lest a target starved of CPU for 5 s be reported as a hang.
  # -rss_limit_mb: ASan's shadow included, far above what any input may cost.
  "$bin/fuzz_$t" "${limit[@]}" -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/artifacts/$t-" "build/fuzz/corpus/$t" "tests/fuzz/$t" \
    >"build/fuzz/logs/$t.log" 2>&1
}

jobs_max="${FUZZ_JOBS:-$(nproc)}"
declare -A pid_of
for t in "${targets[@]}"; do
  if [ ! -x "$bin/fuzz_$t" ]; then echo "no fuzz target $t" >&2; exit 2; fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  run_one "$t" &
  pid_of[$t]=$!
done

failed=0
printf '%-16s %12s %8s %8s %s\n' target executions cov ft result
for t in "${targets[@]}"; do
  if wait "${pid_of[$t]}"; then result=ok; else result=FAILED; failed=1; fi
  log="build/fuzz/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  status=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  printf '%-16s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
  if [ "$result" = FAILED ]; then
    echo "---- $log (last 40 lines)" >&2
    tail -40 "$log" >&2
  fi
done
exit "$failed"
