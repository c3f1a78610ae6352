# Shared by the HTTP benchmarks: builds the release binary and starts the default
# `shopstream serve` (the mock cluster; SERVE_KAFKA=local for the local Kafka) with a known JWT secret. Sets `bin`, `secret`,
# `base`, `work`; stops the server and removes `work` at exit.
./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target shopstream >/dev/null
bin=build/release/adapters/shopstream
secret="benchmark-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

work=$(mktemp -d)
"$bin" serve --listen 127.0.0.1:0 --kafka "${SERVE_KAFKA:-mock}" --jwt-secret "$secret" "${SERVE_ARGS[@]}" >"$work/out" 2>"$work/serve.log" &
server=$!
cleanup() {
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  grep -q '^listening on ' "$work/out" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/out")
[ -n "$base" ] || { echo "serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

