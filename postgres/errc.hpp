#pragma once
// Why PostgreSQL could not be reached, queried or started: an errc to branch on and the
// message beside it (base/error.hpp), which names the server (never its password), the
// directory or the step, with the tail of the server's log where there is one.
//
// Thread-safety: values; the category is a function-local static, safe from any thread.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "base/error.hpp"

namespace shopstream::postgres {

// Reaches logs: values only appended.
enum class errc : std::uint8_t {
    invalid_url = 1,         // libpq would not take the URL, or a port is not 1..65535
    timed_out = 2,           // no answer within the timeout
    connection_failed = 3,   // the server could not be reached, or refused the connection
    query_failed = 4,        // the server answered the statement with an error
    unexpected_answer = 5,   // SELECT 1 did not return 1
    not_installed = 6,       // initdb or postgres is not executable (postgresql-15, SHOPSTREAM_PG_BINDIR)
    no_server_user = 7,      // root, and no unprivileged user to run the server as
    permission_denied = 8,   // the server's user cannot enter, own or use the directory
    io = 9,                  // a directory could not be created, a socket not opened
    initdb_failed = 10,      // initdb failed or did not finish
    start_failed = 11,       // postgres ended while starting, or did not accept connections in time
    address_in_use = 12,     // postgres could not bind its port
    invalid_name = 13,       // a database name of other than letters, digits and '_'
    trusts_without_password = 14,  // a password was asked, but the cluster's pg_hba.conf trusts connections
};

[[nodiscard]] const char* category_name(errc) noexcept;
[[nodiscard]] std::string_view describe(errc e) noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category_of<errc>()};
}

using error = shopstream::error<errc>;

}  // namespace shopstream::postgres

template <>
struct std::is_error_code_enum<shopstream::postgres::errc> : std::true_type {};
