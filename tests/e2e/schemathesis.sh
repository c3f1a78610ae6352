#!/usr/bin/env bash
# Property-based test of the HTTP API against its own OpenAPI document (issue 11):
# starts `shopstream serve` on the mock cluster, then runs schemathesis (from the tests'
# virtual environment, scripts/install-deps.sh) over every documented operation with a
# fixed seed and a bounded number of examples, as a customer and then as an admin.
# It fails on any 5xx, any status, content type, header or body the document does not
# describe for that operation, and any request breaking the document's constraints that
# the server accepts.
#
#   tests/e2e/schemathesis.sh <shopstream binary> [max examples per operation = 25]
#
# ctest runs it in the e2e label. Reports (JUnit, and the cassette of every request) are
# left in the build tree's Testing/schemathesis/.
set -euo pipefail
bin=$(realpath "$1")
examples=${2:-25}
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${SHOPSTREAM_VENV:-$HOME/.cache/shopstream/venv}
st="$venv/bin/schemathesis"
[ -x "$st" ] || { echo "schemathesis is not installed in $venv: run scripts/install-deps.sh" >&2; exit 1; }

work=$(mktemp -d)
reports="${SCHEMATHESIS_REPORTS:-$PWD/Testing/schemathesis}"
mkdir -p "$reports"
secret="schemathesis-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
. "$root/scripts/start-serve.sh"
cleanup() {
  stop_serve
  rm -rf "$work"
}
trap cleanup EXIT
start_serve "$bin" "$work" --kafka mock --jwt-secret "$secret"

# Which checks run is in schemathesis.toml, not in --checks: a check named on the command
# line wins over the file's per-operation settings (/readyz's 503).
failed=0
for role in customer admin; do
  token=$("$bin" token --jwt-secret "$secret" --sub "schemathesis-$role" --role "$role" --ttl 1h)
  echo "schemathesis as $role against $base ($examples examples per operation, seed 1)"
  # From the work dir: schemathesis keeps its example database in the current directory.
  if ! (cd "$work" && "$st" --config-file "$root/tests/e2e/schemathesis.toml" run "$root/adapters/http/openapi.json" --url "$base" \
      -H "Authorization: Bearer $token" --seed 1 --max-examples "$examples" --workers 1 \
      --generation-database none --no-color \
      --report junit,vcr --report-junit-path "$reports/$role.xml" --report-vcr-path "$reports/$role.yaml"); then
    failed=1
  fi
done
if ! kill -0 "$server" 2>/dev/null; then
  echo "serve died during the run" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
exit "$failed"
