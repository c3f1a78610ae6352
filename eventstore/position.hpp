#pragma once
// Where a commit sits in its context's log: partition and offset. A position token
// ("7:1234") is what command answers carry and what reads wait for (X-Min-Position).

#include <charconv>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shopstream::eventstore {

struct position {
    std::int32_t partition = 0;
    std::int64_t offset = 0;

    friend bool operator==(const position&, const position&) = default;
    friend auto operator<=>(const position&, const position&) = default;
};

[[nodiscard]] inline std::string to_string(const position& p) {
    return std::to_string(p.partition) + ":" + std::to_string(p.offset);
}

// Parses "partition:offset" (both non-negative decimal); nullopt on anything else.
[[nodiscard]] inline std::optional<position> parse_position(std::string_view text) noexcept {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
    position p;
    const char* first = text.data();
    const char* mid = first + colon;
    const char* last = first + text.size();
    auto [pe, pec] = std::from_chars(first, mid, p.partition);
    if (pec != std::errc{} || pe != mid || p.partition < 0) return std::nullopt;
    auto [oe, oec] = std::from_chars(mid + 1, last, p.offset);
    if (oec != std::errc{} || oe != last || p.offset < 0) return std::nullopt;
    return p;
}

}  // namespace shopstream::eventstore
