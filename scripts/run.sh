#!/usr/bin/env bash
# Sets up and runs the system: installs the Debian packages, builds the release preset
# and starts `shopstream serve` in its embedded mode: the HTTP API on 127.0.0.1:8080 over
# a local single-node Kafka in ./data/kafka (kept across runs; --kafka mock: the in-process,
# ephemeral cluster), with a local PostgreSQL 15 that serve
# starts in its data directory and stops at exit (as root it runs as `nobody`; SCRAM
# password in <data-dir>/postgres-password), and a JWT secret kept in <data-dir>/jwt-secret,
# printed with example tokens. Arguments go to `serve` (e.g. --listen
# 0.0.0.0:8080, --brokers ... --postgres postgresql://...).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target shopstream
exec build/release/adapters/shopstream serve "$@"
