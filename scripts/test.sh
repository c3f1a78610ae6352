#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian packages (scripts/install-deps.sh),
# builds the debug preset (ASan + UBSan, warnings are errors) and runs ctest.
# Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset debug >/dev/null
cmake --build --preset debug
ctest --preset debug -j "$(nproc)" "$@"
