#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian packages (scripts/install-deps.sh),
# builds the debug preset (ASan + UBSan, warnings are errors) and runs ctest, then the
# fuzz smoke (tests/fuzz/run.sh, its own clang build in build/fuzz).
# Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset debug >/dev/null
cmake --build --preset debug
ctest --preset debug -j "$(nproc)" "$@"

# The fuzz smoke: every fuzz target (tests/fuzz) builds with clang and runs a few
# thousand inputs under ASan + UBSan; a crash or broken invariant fails the run.
fuzz_start=$SECONDS
./tests/fuzz/run.sh
echo "fuzz smoke: $((SECONDS - fuzz_start)) s"
