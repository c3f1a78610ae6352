#pragma once
// base64url without padding (RFC 4648 section 5), the spelling of every opaque cursor
// the queries hand out (queries/order_cursor.hpp, queries/reviews.hpp). The block coding
// is libcrypto's (EVP_EncodeBlock/EVP_DecodeBlock); this maps its alphabet and padding.
// Pure functions, safe from any thread.

#include <optional>
#include <string>
#include <string_view>

namespace shopstream::queries {

[[nodiscard]] std::string base64url(std::string_view bytes);

// The bytes `text` spells; nullopt unless it is unpadded base64url with nothing else in it,
// in its one spelling (the unused low bits of the last character zero).
[[nodiscard]] std::optional<std::string> from_base64url(std::string_view text);

}  // namespace shopstream::queries
