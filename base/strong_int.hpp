#pragma once
// Distinct integer types: a partition is not an offset even though both are integers
// on the wire (redpanda's model::offset). Construction from the raw integer is explicit,
// value() gives it back at a library boundary (librdkafka, LMDB keys, FlatBuffers) or
// in text; no implicit conversion either way, so a function taking (partition, offset)
// does not compile with the two swapped. Arithmetic exists only for tags that declare
// `static constexpr bool arithmetic = true` (an offset steps to the next one; a
// partition number does not add up). Values are immutable and thread-compatible.
// Hand-written: no Debian package provides a strong integer type (apt-cache search
// "strong type", "type-safe", "named type": none; boost's BOOST_STRONG_TYPEDEF converts
// implicitly to the raw integer, which is what this type exists to prevent).
// fmt formatting: base/strong_int_format.hpp.

#include <compare>
#include <concepts>
#include <cstddef>
#include <functional>

namespace shopstream {

namespace detail {
template <class Tag>
concept arithmetic_tag = Tag::arithmetic;
}  // namespace detail

template <std::integral T, class Tag>
class strong_int {
public:
    using value_type = T;

    constexpr strong_int() noexcept = default;
    constexpr explicit strong_int(T value) noexcept : value_(value) {}

    [[nodiscard]] constexpr T value() const noexcept { return value_; }

    friend constexpr bool operator==(strong_int, strong_int) noexcept = default;
    friend constexpr auto operator<=>(strong_int, strong_int) noexcept = default;

    constexpr strong_int& operator++() noexcept
        requires detail::arithmetic_tag<Tag>
    {
        ++value_;
        return *this;
    }
    constexpr strong_int operator++(int) noexcept
        requires detail::arithmetic_tag<Tag>
    {
        strong_int before = *this;
        ++value_;
        return before;
    }
    constexpr strong_int& operator+=(T n) noexcept
        requires detail::arithmetic_tag<Tag>
    {
        value_ += n;
        return *this;
    }
    friend constexpr strong_int operator+(strong_int a, T n) noexcept
        requires detail::arithmetic_tag<Tag>
    {
        return strong_int(a.value_ + n);
    }
    friend constexpr strong_int operator-(strong_int a, T n) noexcept
        requires detail::arithmetic_tag<Tag>
    {
        return strong_int(a.value_ - n);
    }
    // The distance between two of them is a plain count, not another one of them.
    friend constexpr T operator-(strong_int a, strong_int b) noexcept
        requires detail::arithmetic_tag<Tag>
    {
        return a.value_ - b.value_;
    }

    // Streams as its integer (test failure messages, std::ostringstream); a template so
    // that this header needs no <ostream>.
    template <class Ostream>
        requires requires(Ostream& os, T v) { os << v; }
    friend Ostream& operator<<(Ostream& os, strong_int v) {
        os << v.value_;
        return os;
    }

private:
    T value_{};
};

}  // namespace shopstream

template <class T, class Tag>
struct std::hash<shopstream::strong_int<T, Tag>> {
    std::size_t operator()(shopstream::strong_int<T, Tag> v) const noexcept { return std::hash<T>{}(v.value()); }
};
