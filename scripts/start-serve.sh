# Sourced (bash): start `shopstream serve` in the background and wait until it listens.
#
#   . scripts/start-serve.sh
#   start_serve BIN WORK [serve flags...]
#
# Runs `BIN serve --listen 127.0.0.1:0 [serve flags...]` with stdout in WORK/out and
# stderr in WORK/serve.log, waits (up to 60 s) for its 'listening on URL' line, and sets
# `server` (its pid) and `base` (the URL). If serve exits or never listens, prints its log
# and exits the calling script with 1. Stopping it is the caller's: stop_serve.
start_serve() {
  local bin=$1 work=$2
  shift 2
  "$bin" serve --listen 127.0.0.1:0 "$@" >"$work/out" 2>"$work/serve.log" &
  server=$!
  for _ in $(seq 1 600); do
    grep -q '^listening on ' "$work/out" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
  done
  base=$(sed -n 's/^listening on //p' "$work/out")
  [ -n "$base" ] || { echo "serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
}

# SIGTERM, then wait for it to exit (its drain and the local services' stop).
stop_serve() {
  [ -n "${server:-}" ] || return 0
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
