#pragma once
// How shopstream reaches a PostgreSQL server: a checked connection URL, a bounded
// one-statement round trip, and the cached health check /readyz asks.
//
// database_url holds what `--postgres` (or SHOPSTREAM_POSTGRES) says, checked with libpq's
// own parser, so whatever libpq accepts (a postgresql:// URL or a key=value string) is
// accepted and nothing else. conninfo() is the string to open a connection with (libpq,
// libpqxx): it adds a connect timeout and an application name unless the URL sets them.
// describe() names the server for logs without the password.
//
// query_one() runs on libpq's non-blocking API against a client-side deadline, so neither
// an address that swallows packets nor a server that accepts and then hangs holds the
// caller past the timeout; the server also gets a statement_timeout.
//
// Thread-safety: database_url is a value; query_one() is safe from any thread (each call
// has its own connection); health::check() is safe from any thread.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postgres/errc.hpp"
#include "base/result.hpp"

namespace shopstream::postgres {

class database_url {
public:
    // Fails (errc::invalid_url) with one sentence when libpq would not take `text`, or a
    // port is not a number from 1 to 65535.
    [[nodiscard]] static result<database_url, error> parse(std::string_view text);

    // A key=value connection string with every setting of the URL, plus connect_timeout
    // (seconds, at least 2: libpq's minimum) and application_name=shopstream unless the
    // URL has its own.
    [[nodiscard]] std::string conninfo(std::chrono::seconds connect_timeout = std::chrono::seconds(5)) const;

    // "USER@HOST:PORT/DATABASE" with what the URL gives (no password), for log lines.
    [[nodiscard]] const std::string& describe() const noexcept { return description_; }

private:
    database_url() = default;
    std::vector<std::pair<std::string, std::string>> settings_;  // libpq keyword → value, as given
    std::string description_;
};

// Connects and runs `sql`, all within `timeout`; returns the first column of the first
// row (nullopt when the statement returns no rows, or NULL). Errors are one line:
// timed_out, connection_failed, or query_failed (the server refused the statement).
[[nodiscard]] result<std::optional<std::string>, error> query_one(const database_url& url, std::string_view sql,
                                                                  std::chrono::milliseconds timeout);

// `SELECT 1` within `timeout`: the server is up and takes queries.
[[nodiscard]] result<void, error> ping(const database_url& url, std::chrono::milliseconds timeout);

// The answer /readyz gives for PostgreSQL: ping(), at most once per `cache_for`; calls in
// between get the last answer, so a readiness storm costs the server one connection a
// second at most.
class health {
public:
    explicit health(database_url url, std::chrono::milliseconds timeout = std::chrono::milliseconds(1500),
                    std::chrono::milliseconds cache_for = std::chrono::seconds(1));

    // nullopt: reachable; otherwise why not (one line, ping()'s code).
    [[nodiscard]] std::optional<error> check();

private:
    const database_url url_;
    const std::chrono::milliseconds timeout_;
    const std::chrono::milliseconds cache_for_;
    std::mutex mu_;  // held through a ping: concurrent callers wait for its answer
    std::optional<std::chrono::steady_clock::time_point> checked_at_;
    std::optional<error> last_;
};

}  // namespace shopstream::postgres
