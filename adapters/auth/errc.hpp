#pragma once
// Why a JWT authority could not be made or a token minted (the CLI's `token`, `serve`'s
// --jwt-secret and --token-ttl): an errc to branch on and the sentence for humans beside
// it (base/error.hpp). Why a request is not authenticated is another matter, auth_errc
// in adapters/auth/jwt.hpp, answered 401.
//
// Thread-safety: values; the category is a function-local static, safe from any thread.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "base/error.hpp"

namespace shopstream::adapters::auth {

// Reaches logs: values only appended.
enum class errc : std::uint8_t {
    invalid_ttl = 1,         // not a positive integer with a unit s/m/h/d, or above max_ttl
    invalid_secret = 2,      // shorter than min_secret_bytes or longer than max_secret_bytes
    invalid_leeway = 3,      // outside 0..3600 seconds
    invalid_subject = 4,     // not 1-128 characters from [A-Za-z0-9._:-]
    invalid_role = 5,        // a token's role is customer or admin
    clock_out_of_range = 6,  // now (or now + ttl) does not fit a JWT's NumericDate
    signing_failed = 7,      // libjwt could not build, sign or encode the token
};

[[nodiscard]] const char* category_name(errc) noexcept;
[[nodiscard]] std::string_view describe(errc e) noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category_of<errc>()};
}

using error = shopstream::error<errc>;

}  // namespace shopstream::adapters::auth

template <>
struct std::is_error_code_enum<shopstream::adapters::auth::errc> : std::true_type {};
