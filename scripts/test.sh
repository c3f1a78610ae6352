#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian packages and the Kafka jars
# (scripts/install-deps.sh), builds the debug preset (ASan + UBSan, warnings are errors)
# and runs ctest one label after another - unit, integration, e2e, kafka (the real
# three-node Apache Kafka cluster, tests/README.md) - printing each label's wall time,
# then the fuzz smoke (tests/fuzz/run.sh, its own clang build in build/fuzz).
# Extra arguments go to one ctest run instead, e.g. `scripts/test.sh -L kafka`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset debug >/dev/null
cmake --build --preset debug
if [ $# -gt 0 ]; then
  ctest --preset debug -j "$(nproc)" "$@"
else
  for label in unit integration e2e kafka; do
    label_start=$SECONDS
    ctest --preset debug -j "$(nproc)" -L "^${label}\$"
    echo "label ${label}: $((SECONDS - label_start)) s"
  done
fi

# The fuzz smoke: every fuzz target (tests/fuzz) builds with clang and runs a few
# thousand inputs under ASan + UBSan; a crash or broken invariant fails the run.
fuzz_start=$SECONDS
./tests/fuzz/run.sh
echo "fuzz smoke: $((SECONDS - fuzz_start)) s"
