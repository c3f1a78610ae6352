# Shared by the HTTP benchmarks: builds the release binary and starts `shopstream serve`
# with a known JWT secret on SERVE_KAFKA: `mock` (the default: librdkafka's in-process mock)
# or `local` (the default run's local Apache Kafka, in a data dir under `work`, with its
# local PostgreSQL). Sets `bin`, `secret`, `base`, `work`, and `jvm_pid` (the local broker's
# JVM; empty on the mock); stops the server and removes `work` at exit.
# jvm_ticks / jvm_rss_mib: the JVM's utime+stime (clock ticks) and VmRSS, from /proc.
./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target shopstream >/dev/null
bin=build/release/adapters/shopstream
secret="benchmark-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

work=$(mktemp -d)
chmod o+x "$work"  # the local PostgreSQL runs as nobody when we are root
data_args=()
[ "${SERVE_KAFKA:-mock}" = local ] && data_args=(--data-dir "$work/data")
. scripts/start-serve.sh
cleanup() {
  stop_serve
  rm -rf "$work"
}
trap cleanup EXIT
start_serve "$bin" "$work" --kafka "${SERVE_KAFKA:-mock}" --jwt-secret "$secret" "${data_args[@]}" "${SERVE_ARGS[@]}"
jvm_pid=$(sed -n 's/.*started a LOCAL Apache Kafka [^ ]* (KRaft, single node, pid \([0-9]*\),.*/\1/p' "$work/serve.log")
jvm_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$jvm_pid/stat"; }
jvm_rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$jvm_pid/status"; }
