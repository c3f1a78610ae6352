#pragma once
// Where a commit sits in its context's log: partition and offset. A position token
// ("7:1234") is what command answers carry and what reads wait for (X-Min-Position).
// Partition and offset are distinct types (base/strong_int.hpp); the raw integers appear
// only where a library or a text format wants them.

#include <charconv>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/strong_int.hpp"
#include "base/strong_int_format.hpp"
#include "eventstore/context.hpp"

namespace shopstream::eventstore {

// A partition of a context's topic: 0 .. partition count - 1.
using partition_id = strong_int<std::int32_t, struct partition_id_tag>;

struct log_offset_tag {
    static constexpr bool arithmetic = true;  // the next record is at offset + 1
};
// An offset in one partition. Kafka's own sentinels keep their meaning where an API
// returns them (-1: none / not known yet).
using log_offset = strong_int<std::int64_t, log_offset_tag>;

struct position {
    partition_id partition{0};
    log_offset offset{0};

    friend bool operator==(const position&, const position&) = default;
    friend auto operator<=>(const position&, const position&) = default;
};

[[nodiscard]] inline std::string to_string(const position& p) {
    return std::to_string(p.partition.value()) + ":" + std::to_string(p.offset.value());
}

namespace detail {
// A non-negative decimal as std::to_string writes it: digits only, no sign, no leading
// zero unless it is "0" itself.
[[nodiscard]] constexpr bool is_canonical_decimal(std::string_view digits) noexcept {
    if (digits.empty() || (digits.size() > 1 && digits.front() == '0')) return false;
    for (const char c : digits) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}
}  // namespace detail

// Parses exactly what to_string prints: "partition:offset", both non-negative decimals
// without sign or leading zeros; nullopt on anything else. One position has one
// spelling, so a token compares, logs and caches as the position it names ("07:0012"
// and "-0:0" are refused, not read as 7:12 and 0:0).
[[nodiscard]] inline std::optional<position> parse_position(std::string_view text) noexcept {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || !detail::is_canonical_decimal(text.substr(0, colon)) ||
        !detail::is_canonical_decimal(text.substr(colon + 1))) {
        return std::nullopt;
    }
    partition_id::value_type partition = 0;
    log_offset::value_type offset = 0;
    const char* first = text.data();
    const char* mid = first + colon;
    const char* last = first + text.size();
    auto [pe, pec] = std::from_chars(first, mid, partition);
    if (pec != std::errc{} || pe != mid) return std::nullopt;
    auto [oe, oec] = std::from_chars(mid + 1, last, offset);
    if (oec != std::errc{} || oe != last) return std::nullopt;
    return position{partition_id(partition), log_offset(offset)};
}

// A position token that names its context: "reviews:7:1234" (issue 11). A read model fed
// by several contexts (orders and payments) cannot tell from "7:1234" which log is meant;
// a named token says it, and a model ignores a token of a context it is not fed from.
[[nodiscard]] inline std::string to_token(context c, const position& p) {
    return std::string(name_of(c)) + ":" + to_string(p);
}

struct position_token {
    std::optional<context> ctx;  // nullopt: a bare "partition:offset"
    position at;
    friend bool operator==(const position_token&, const position_token&) = default;
};

// "<context>:<partition>:<offset>" (a context name as name_of spells it) or the bare
// "<partition>:<offset>"; nullopt on anything else (an unknown context included).
[[nodiscard]] inline std::optional<position_token> parse_position_token(std::string_view text) noexcept {
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
        const auto name = text.substr(0, colon);
        for (const context c : all_contexts) {
            if (name_of(c) != name) continue;
            const auto p = parse_position(text.substr(colon + 1));
            if (!p) return std::nullopt;
            return position_token{c, *p};
        }
        return std::nullopt;
    }
    const auto p = parse_position(text);
    if (!p) return std::nullopt;
    return position_token{std::nullopt, *p};
}

}  // namespace shopstream::eventstore
