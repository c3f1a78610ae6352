#pragma once
// libpqxx at the edge of the error-as-value world: opening a connection from a checked
// database_url, and turning what libpqxx throws into postgres::error, so callers above
// (the orders read model, the order queries) return results and never leak exceptions.
//
// Thread-safety: free functions; a pqxx::connection is used by one thread at a time.

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <pqxx/connection>

#include "base/result.hpp"
#include "postgres/connection.hpp"
#include "postgres/errc.hpp"

namespace shopstream::postgres {

// A connection with the URL's settings (database_url::conninfo). Fails with
// connection_failed (one line, no password) when the server cannot be reached.
[[nodiscard]] result<std::unique_ptr<pqxx::connection>, error> connect(
    const database_url& url, std::chrono::seconds connect_timeout = std::chrono::seconds(5));

// What libpqxx threw while `doing` ("writing a batch of the orders model"): a lost or
// refused connection is connection_failed, a statement the server refused query_failed
// with its SQLSTATE, anything else query_failed.
[[nodiscard]] error error_from(std::string_view doing, const std::exception& thrown);

namespace detail {
template <class T>
struct guarded_result {
    using type = result<T, error>;
};
template <class T>
struct guarded_result<result<T, error>> {
    using type = result<T, error>;
};
}  // namespace detail

// Runs `body` (which may throw what libpqxx throws) and returns its value (a body that
// returns a result<T, error> has it returned as it is), or the error error_from() makes
// of what it threw.
template <class F>
[[nodiscard]] auto guarded(std::string_view doing, F&& body) -> typename detail::guarded_result<decltype(body())>::type {
    try {
        if constexpr (std::is_void_v<decltype(body())>) {
            body();
            return {};
        } else {
            return body();
        }
    } catch (const std::exception& thrown) {
        return fail(error_from(doing, thrown));
    }
}

// True for a schema name this code will splice into DDL (quoted): 1 to 63 characters of
// [a-z0-9_], starting with a letter or '_'.
[[nodiscard]] bool is_plain_schema_name(std::string_view name) noexcept;

}  // namespace shopstream::postgres
