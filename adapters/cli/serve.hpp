#pragma once
// `shopstream serve`: the event store (state store, tail, producer, history reader), the
// command handlers and the HTTP API in one process (ARCHITECTURE.md decision 10), until
// SIGTERM/SIGINT. Without brokers it starts the embedded Kafka-protocol cluster
// (decision 11) and, unless given, a temporary data directory (the mock log is ephemeral)
// and a local PostgreSQL 15 in it (adapters/postgres/local_cluster.hpp; 127.0.0.1 only,
// SCRAM password kept in <data-dir>/postgres-password, fsync on; stopped at exit, also on
// start-up failures). Without --jwt-secret the secret is <data-dir>/jwt-secret, generated
// on first start (adapters/cli/data_dir.hpp), and without --cursor-key the order cursors'
// key is <data-dir>/cursor-key. The orders projection runs in consumer_group mode over
// the orders read model in that PostgreSQL (migrated at start), the reviews projection
// over every partition into the local LMDB replica. A PostgreSQL given by URL must answer at
// start. With brokers the topics' guarantees are checked (eventstore/topics.hpp) and
// --kafka-config settings go to every Kafka client (eventstore/client_settings.hpp).
//
// The first line on stdout is machine-readable: `listening on http://HOST:PORT` (the real
// port when 0 was asked for); with --health-listen the second is `health on
// http://HOST:PORT`; everything else goes to the log on stderr.
// Exit codes as cli.hpp: 0 after a clean stop, 1 when a dependency cannot be started or
// reached, 2 on a usage error.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shopstream::adapters {

struct serve_config {
    std::string listen = "127.0.0.1:8080";
    std::string brokers;     // empty: `kafka` below
    std::string kafka = "local";  // without brokers: local (a Kafka node in <data-dir>/kafka) | mock
    std::string postgres;    // a libpq URL; empty: a local PostgreSQL in <data-dir>/postgres (embedded mode only)
    std::string data_dir;    // empty: a fresh temporary directory (embedded mode only)
    std::string jwt_secret;  // empty: a random one (embedded mode only)
    // HMAC key of the order list's cursors, at least 16 bytes, the same in every serve
    // process behind one load balancer; empty: the one in <data-dir>/cursor-key (made on
    // first start, mode 0600).
    std::string cursor_key;
    int partitions = 16;
    std::string log_format = "text";  // text | json
    bool access_log = false;
    int drain_timeout_ms = 10'000;  // at SIGTERM: how long requests in flight may take to finish
    // Requests per second per principal (a non-negative number; 0: no limit) and the
    // token bucket's size (empty: twice the rate, at least 1); checked by run_serve.
    std::string rate_limit = "5000";  // per principal: a benchmark from a handful of callers is not limited
    std::string rate_burst;
    // Connection limits of the HTTP edge (server_options): per client address (0: none,
    // behind a proxy that limits on its own), and the time to a complete request head.
    std::size_t max_connections_per_client = 256;
    int header_timeout_ms = 5'000;
    // How long a read with X-Min-Position waits for the position (server_options).
    int min_position_timeout_ms = 2'000;
    // "HOST:PORT" of a listener for /healthz, /readyz and /metrics only; empty: none.
    std::string health_listen;
    // librdkafka settings for every Kafka client (eventstore/client_settings.hpp): the
    // file's lines first, then each --kafka-config "key=value" (a later one wins).
    std::vector<std::string> kafka_config;
    std::string kafka_config_file;
    // The parts this process runs, any non-empty subset (adapters/cli/serve_saga.hpp,
    // parse_roles; what each means: serve.cpp at --roles).
    std::string roles = "api,saga,gateway,projections";
    std::string payment_gateway = "simulator";  // or the URL of a provider (fake-gateway)
    std::string payment_timeout = "30s";        // a pending order's deadline for its payment
    std::string payment_breaker = "0.5/20/10s/5s";  // parse_breaker (serve_saga.hpp)
    int payment_max_in_flight = 1'024;  // saga_roles_config::max_payments_in_flight
};

// "HOST:PORT" or "[V6]:PORT" → (host, port); nullopt when it is not of that form.
[[nodiscard]] std::optional<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text);

// Runs until SIGTERM/SIGINT; returns the process exit code.
[[nodiscard]] int run_serve(const serve_config& config);

}  // namespace shopstream::adapters
