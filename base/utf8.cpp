#include "base/utf8.hpp"

#include <cstdint>

namespace shopstream::utf8 {

std::optional<std::size_t> count_code_points(std::string_view text) noexcept {
    std::size_t count = 0;
    std::size_t i = 0;
    const std::size_t n = text.size();
    auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
    auto continuation = [&](std::size_t k) { return k < n && (byte(k) & 0xC0U) == 0x80U; };
    while (i < n) {
        const std::uint8_t b0 = byte(i);
        if (b0 < 0x80U) {
            i += 1;
        } else if (b0 >= 0xC2U && b0 <= 0xDFU) {
            if (!continuation(i + 1)) return std::nullopt;
            i += 2;
        } else if (b0 >= 0xE0U && b0 <= 0xEFU) {
            if (!continuation(i + 1) || !continuation(i + 2)) return std::nullopt;
            const std::uint8_t b1 = byte(i + 1);
            if (b0 == 0xE0U && b1 < 0xA0U) return std::nullopt;   // overlong
            if (b0 == 0xEDU && b1 >= 0xA0U) return std::nullopt;  // UTF-16 surrogate
            i += 3;
        } else if (b0 >= 0xF0U && b0 <= 0xF4U) {
            if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return std::nullopt;
            const std::uint8_t b1 = byte(i + 1);
            if (b0 == 0xF0U && b1 < 0x90U) return std::nullopt;   // overlong
            if (b0 == 0xF4U && b1 >= 0x90U) return std::nullopt;  // past U+10FFFF
            i += 4;
        } else {
            return std::nullopt;  // continuation byte first, 0xC0/0xC1 or 0xF5..0xFF
        }
        ++count;
    }
    return count;
}

}  // namespace shopstream::utf8
