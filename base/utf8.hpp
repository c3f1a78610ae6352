#pragma once
// Strict UTF-8 (RFC 3629): rejects overlong forms, surrogates, code points past
// U+10FFFF and truncated sequences. The one validator of the project (the HTTP JSON
// mapping and the codecs call it); the checking is utf8cpp's (Debian libutfcpp-dev).
// Pure functions, safe from any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shopstream::utf8 {

// Byte offset of the first byte of the first ill-formed sequence (for a truncated
// sequence at the end, its lead byte); nullopt when `text` is valid UTF-8.
[[nodiscard]] std::optional<std::size_t> first_invalid(std::string_view text) noexcept;

// Number of code points in `text`, or nullopt when it is not valid UTF-8.
[[nodiscard]] std::optional<std::size_t> count_code_points(std::string_view text) noexcept;

// `text` with each ill-formed sequence replaced by U+FFFD (for writing text that came
// from outside as well-formed JSON); valid text comes back unchanged.
[[nodiscard]] std::string with_replacement(std::string_view text);

[[nodiscard]] inline bool is_valid(std::string_view text) noexcept {
    return !first_invalid(text).has_value();
}

}  // namespace shopstream::utf8
