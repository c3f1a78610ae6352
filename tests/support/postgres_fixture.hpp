#pragma once
// A throwaway PostgreSQL 15 server for integration and end-to-end tests.
//
// start() runs `initdb` into a fresh temporary directory and starts `postgres` directly
// as a child process (not through pg_ctl, so the fixture owns its pid and the server dies
// with the test through PR_SET_PDEATHSIG). It listens on 127.0.0.1 only, on a free port
// picked by the kernel, with its unix socket inside the temporary directory and trust
// authentication (nothing else can reach it). fsync stays on, as in production, so tests
// exercise real durability costs. PostgreSQL refuses to run as root: when the tests run as
// root the server runs as `nobody` (env SHOPSTREAM_TEST_PG_USER to change), which owns the
// temporary directory; the database superuser has that OS user's name. Binaries come from
// /usr/lib/postgresql/15/bin (env SHOPSTREAM_PG_BINDIR to change).
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

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] const std::string& user() const noexcept { return user_; }
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return directory_; }
    [[nodiscard]] std::filesystem::path data_directory() const { return directory_ / "data"; }
    [[nodiscard]] std::filesystem::path log_file() const { return directory_ / "server.log"; }
    [[nodiscard]] bool running() const noexcept { return server_ && server_->running(); }

private:
    postgres_server() = default;

    std::filesystem::path directory_;
    bool removed_ = false;
    std::string user_;
    int port_ = 0;
    std::optional<process> server_;
    std::optional<exit_status> stopped_;
    std::atomic<unsigned> database_counter_ = 0;
};

// One server per test binary, started on first use and stopped when the binary exits.
// Throws std::runtime_error (failing the calling test) if it cannot be started; later
// calls rethrow the same error without trying again.
postgres_server& shared_postgres();

}  // namespace shopstream::testing
