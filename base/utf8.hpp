#pragma once
// Strict UTF-8 (RFC 3629): rejects overlong forms, surrogates, code points past
// U+10FFFF and truncated sequences. Pure functions, safe from any thread.

#include <cstddef>
#include <optional>
#include <string_view>

namespace shopstream::utf8 {

// Number of code points in `text`, or nullopt when it is not valid UTF-8.
[[nodiscard]] std::optional<std::size_t> count_code_points(std::string_view text) noexcept;

[[nodiscard]] inline bool is_valid(std::string_view text) noexcept {
    return count_code_points(text).has_value();
}

}  // namespace shopstream::utf8
