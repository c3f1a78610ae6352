#pragma once
// Why the HTTP server could not start, or the Idempotency-Key store could not be opened,
// read or written: an errc to branch on and the message beside it (base/error.hpp),
// which names the address or the directory. Answers to requests are not these: they are
// problem details (adapters/http/problem.hpp).
//
// Thread-safety: values; the category is a function-local static, safe from any thread.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "base/error.hpp"

namespace shopstream::adapters::http {

// Reaches logs: values only appended.
enum class errc : std::uint8_t {
    address_in_use = 1,     // server::start: another socket holds the address (EADDRINUSE)
    listen_failed = 2,      // server::start: cannot listen there otherwise (no such address, EACCES, ...)
    permission_denied = 3,  // the store's directory cannot be created, read or written (EACCES, EPERM, EROFS)
    already_open = 4,       // this process has the store's directory open already
    store_full = 5,         // the store's LMDB map is full (idempotency_store_options::map_size)
    store_corrupted = 6,    // the store's file is damaged or of another format, or an answer cannot be decoded
    io = 7,                 // any other failure of the store (ENOSPC, EIO, an LMDB code)
};

[[nodiscard]] const char* category_name(errc) noexcept;
[[nodiscard]] std::string_view describe(errc e) noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category_of<errc>()};
}

using error = shopstream::error<errc>;

}  // namespace shopstream::adapters::http

template <>
struct std::is_error_code_enum<shopstream::adapters::http::errc> : std::true_type {};
