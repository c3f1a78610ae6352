#!/usr/bin/env bash
# Installs the exact Debian packages shopstream needs to build, test and benchmark.
# Idempotent: when everything is already installed it prints nothing and touches nothing.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config git ccache
  # libraries named by the architecture
  librdkafka-dev libpqxx-dev liblmdb-dev libflatbuffers-dev flatbuffers-compiler
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  # strict UTF-8 validation (base/utf8), header-only
  libutfcpp-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev wrk
  postgresql-15 kcat openssl
  # the HTTP API (issue #4)
  libjwt-dev librestinio-dev libasio-dev libhttp-parser-dev libssl-dev
  # end-to-end tests speak HTTP to the binary through curl, and read /metrics with a
  # foreign Prometheus parser
  curl python3-prometheus-client
  # the Prometheus registry behind /metrics (core library only; we serve the text ourselves)
  prometheus-cpp-dev
  # fuzzing (tests/fuzz, the fuzz preset): clang-19, the newest clang in Debian 12 and one
  # that compiles <expected> against libstdc++ 12 (clang-14 cannot); libFuzzer and the
  # sanitizer runtimes are in libclang-rt-19-dev, llvm-symbolizer (readable crash stacks)
  # in llvm-19
  clang-19 libclang-rt-19-dev llvm-19
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
