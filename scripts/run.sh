#!/usr/bin/env bash
# Sets up and runs the system: installs the Debian packages, builds the release preset
# and starts shopstream in its embedded mode. Arguments go to the subcommand.
#
# The HTTP server (`shopstream serve`, with its own PostgreSQL) arrives with issue #4;
# until then this runs what exists: the embedded Kafka-protocol cluster with the
# orders/payments/reviews event topics, which any Kafka client (kcat) can use.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target shopstream
exec build/release/adapters/shopstream embedded-cluster "$@"
