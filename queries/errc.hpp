#pragma once
// Why a query could not be answered: an errc to branch on (the HTTP layer maps it to a
// status) and the message beside it (base/error.hpp). For invalid_argument the message
// starts with the name of the query parameter at fault and ": " ("after: ...", "limit:
// ..."), so a 400 problem can name it.
//
// Thread-safety: values; the category is a function-local static, safe from any thread.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "base/error.hpp"

namespace shopstream::queries {

// Reaches logs and HTTP problems: values only appended.
enum class errc : std::uint8_t {
    invalid_argument = 1,  // a parameter out of range, malformed, or a cursor not issued for this list (400)
    not_found = 2,         // no such order (404)
    unavailable = 3,       // the read model's database cannot be reached or refused the query (503)
    not_yet_applied = 4,   // the read model has not applied the position asked for within the wait (503)
};

[[nodiscard]] const char* category_name(errc) noexcept;
[[nodiscard]] std::string_view describe(errc e) noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category_of<errc>()};
}

using error = shopstream::error<errc>;

}  // namespace shopstream::queries

template <>
struct std::is_error_code_enum<shopstream::queries::errc> : std::true_type {};
