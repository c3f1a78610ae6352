#!/usr/bin/env bash
# Installs the exact Debian packages shopstream needs to build, test and benchmark.
# Then resolves the pinned Apache Kafka broker (scripts/kafka/pom.xml) from Maven Central into
# a cache folder outside the build tree: $SHOPSTREAM_KAFKA_LIBS, by default
# ~/.cache/shopstream/kafka-<version>/libs (adapters/kafka/local_broker reads the same),
# and the older Kafka the SCRAM test needs (scripts/kafka/scram-3.9/pom.xml) beside it.
# Idempotent: when everything is already installed it prints nothing and touches nothing;
# once the jars are cached it needs no network.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config git ccache
  # libraries named by the architecture
  librdkafka-dev libpqxx-dev liblmdb-dev libflatbuffers-dev flatbuffers-compiler
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  # strict UTF-8 validation (base/utf8), header-only
  libutfcpp-dev
  # streaming JSON writer for the HTTP renderers (adapters/http/json_writer.hpp), header-only
  rapidjson-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev wrk
  postgresql-15 kcat openssl
  # the real Apache Kafka broker (tests' three-broker cluster, serve's local broker): jars
  # from Maven Central, resolved by Maven, run on the JDK
  openjdk-17-jre-headless maven
  # the HTTP API (issue #4)
  libjwt-dev librestinio-dev libasio-dev libhttp-parser-dev libssl-dev
  # the payment gateway's HTTP client (adapters/payment/http_gateway, issue 12)
  libcurl4-openssl-dev
  # the allocator of the release binary and the benchmarks (CMakeLists.txt, SHOPSTREAM_JEMALLOC)
  libjemalloc-dev
  # end-to-end tests speak HTTP to the binary through curl, and read /metrics with a
  # foreign Prometheus parser
  curl python3-prometheus-client
  # the virtual environment of the tests' Python tools (schemathesis, from PyPI)
  python3-venv
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
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Kafka jars. The marker holds the pom's checksum: a changed pin resolves again, an
# unchanged one touches nothing (and needs neither Maven Central nor Maven's startup).
# resolve_kafka POM LIBS: the jars POM pins into LIBS.
resolve_kafka() {
  local pom=$1 libs=$2 kafka_version marker want log
  kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
  marker="$libs/.resolved"
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  if [ "$(cat "$marker" 2>/dev/null)" != "$want" ]; then
    echo "resolving Apache Kafka $kafka_version into $libs" >&2
    mkdir -p "$libs"
    rm -f "$libs"/*.jar
    # Offline first: Maven's own repository (~/.m2) may hold every jar already.
    local copy=(org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies
                -DincludeScope=runtime -DoutputDirectory="$libs")
    log=$(mktemp)
    if ! mvn -q -B -o -f "$pom" "${copy[@]}" >"$log" 2>&1 && ! mvn -q -B -f "$pom" "${copy[@]}" >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      echo "could not resolve Apache Kafka $kafka_version ($pom)" >&2
      exit 1
    fi
    rm -f "$log"
    echo "$want" >"$marker"
  fi
}
kafka_poms="$(cd "$(dirname "$0")" && pwd)/kafka"
version_of() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$1"; }
resolve_kafka "$kafka_poms/pom.xml" \
  "${SHOPSTREAM_KAFKA_LIBS:-$HOME/.cache/shopstream/kafka-$(version_of "$kafka_poms/pom.xml")/libs}"
# The broker the SCRAM test talks to (tests/README.md: librdkafka 2.0.2's SCRAM is refused
# by Kafka 4.x), only for the tests.
resolve_kafka "$kafka_poms/scram-3.9/pom.xml" \
  "${SHOPSTREAM_KAFKA_SCRAM_LIBS:-$HOME/.cache/shopstream/kafka-$(version_of "$kafka_poms/scram-3.9/pom.xml")/libs}"

# The tests' Python tools (scripts/python-requirements.txt: schemathesis) in a virtual
# environment of their own, from PyPI. Like the jars: a marker holds the requirements'
# checksum, so an unchanged pin touches nothing and needs no network.
venv=${SHOPSTREAM_VENV:-$HOME/.cache/shopstream/venv}
requirements="$(cd "$(dirname "$0")" && pwd)/python-requirements.txt"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$venv/.resolved" 2>/dev/null)" != "$want" ]; then
  echo "installing the tests' Python tools into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  log=$(mktemp)
  if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "could not install the Python tools (scripts/python-requirements.txt) from PyPI" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" >"$venv/.resolved"
fi
