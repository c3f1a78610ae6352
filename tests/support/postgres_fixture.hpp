#pragma once
// A throwaway PostgreSQL 15 server for integration and end-to-end tests: the local
// cluster `serve` runs in embedded mode (adapters/postgres/local_cluster.hpp: initdb,
// 127.0.0.1 on a free port, trust authentication, run as `nobody` when root), in a fresh
// temporary directory removed by stop(). When the tests run as root the server runs as
// `nobody` (env SHOPSTREAM_TEST_PG_USER to change). fsync stays on, as in production, so
// tests exercise real durability costs.
//
// initdb costs about a second, so a test binary normally shares one server
// (shared_postgres()) and isolates tests by database (create_database()).
//
// Thread-safety: connection_string() and the accessors are safe from any thread;
// create_database() too (each call opens its own connection). stop() and destruction must
// not race with other calls.

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "adapters/postgres/local_cluster.hpp"
#include "tests/support/process.hpp"

namespace shopstream::testing {

class postgres_server {
public:
    [[nodiscard]] static result<std::unique_ptr<postgres_server>, std::string> start();

    postgres_server(const postgres_server&) = delete;
    postgres_server& operator=(const postgres_server&) = delete;
    ~postgres_server();  // stop()

    // libpq URL: postgresql://USER@127.0.0.1:PORT/DATABASE
    [[nodiscard]] std::string connection_string(std::string_view database = "postgres") const;

    // Creates a database with a fresh, unique name and returns the name. Throws
    // std::runtime_error if the server refuses (a test cannot go on without it).
    [[nodiscard]] std::string create_database();

    // Fast shutdown (SIGINT), SIGKILL if it takes longer than a few seconds, then removes
    // the temporary directory. Idempotent. Returns how the server process ended.
    exit_status stop();

    [[nodiscard]] int port() const noexcept { return cluster_->port(); }
    [[nodiscard]] const std::string& user() const noexcept { return cluster_->user(); }
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return directory_; }
    [[nodiscard]] std::filesystem::path data_directory() const { return cluster_->data_directory(); }
    [[nodiscard]] std::filesystem::path log_file() const { return cluster_->log_file(); }
    [[nodiscard]] bool running() const noexcept { return cluster_ && cluster_->running(); }

private:
    postgres_server() = default;

    std::filesystem::path directory_;
    bool removed_ = false;
    std::unique_ptr<adapters::postgres::local_cluster> cluster_;
    std::atomic<unsigned> database_counter_ = 0;
};

// One server per test binary, started on first use and stopped when the binary exits.
// Throws std::runtime_error (failing the calling test) if it cannot be started; later
// calls rethrow the same error without trying again.
postgres_server& shared_postgres();

}  // namespace shopstream::testing
