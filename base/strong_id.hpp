#pragma once
// Distinct identifier types: an order_id is not a customer_id even though both are
// strings on the wire. Values are immutable after construction and thread-compatible.

#include <compare>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace shopstream {

template <class Tag>
class strong_id {
public:
    strong_id() = default;
    explicit strong_id(std::string value) : value_(std::move(value)) {}

    [[nodiscard]] const std::string& value() const noexcept { return value_; }
    [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

    friend bool operator==(const strong_id&, const strong_id&) = default;
    friend auto operator<=>(const strong_id&, const strong_id&) = default;

private:
    std::string value_;
};

// A non-owning view of an identifier, as distinct as the owning type: a function taking
// (id_ref<aggregate>, id_ref<command>) does not compile with the two swapped. Built
// explicitly from the id's text (wire bytes, a key) or implicitly from its strong_id.
// Valid while the viewed text is.
template <class Tag>
class id_ref {
public:
    constexpr explicit id_ref(std::string_view value) noexcept : value_(value) {}
    id_ref(const strong_id<Tag>& id) noexcept : value_(id.value()) {}  // NOLINT: same identity

    [[nodiscard]] constexpr std::string_view value() const noexcept { return value_; }

    friend constexpr bool operator==(id_ref a, id_ref b) noexcept { return a.value_ == b.value_; }

private:
    std::string_view value_;
};

}  // namespace shopstream

template <class Tag>
struct std::hash<shopstream::strong_id<Tag>> {
    std::size_t operator()(const shopstream::strong_id<Tag>& id) const noexcept {
        return std::hash<std::string>{}(id.value());
    }
};
