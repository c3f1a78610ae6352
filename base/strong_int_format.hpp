#pragma once
// Logs a strong_int (base/strong_int.hpp) as its integer: spdlog::info("{}", offset).
// Apart from strong_int.hpp so that base's core headers include no fmt.

#include <fmt/format.h>

#include "base/strong_int.hpp"

template <class T, class Tag>
struct fmt::formatter<shopstream::strong_int<T, Tag>> : fmt::formatter<T> {
    auto format(shopstream::strong_int<T, Tag> v, fmt::format_context& ctx) const {
        return fmt::formatter<T>::format(v.value(), ctx);
    }
};
