#pragma once
// The bounded contexts whose events the store keeps, and the Kafka topic of each.
// Reaches the wire (state-store keys): values only appended.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shopstream::eventstore {

enum class context : std::uint8_t { orders = 0, payments = 1, reviews = 2 };

inline constexpr std::array<context, 3> all_contexts = {context::orders, context::payments,
                                                        context::reviews};

[[nodiscard]] constexpr std::string_view name_of(context c) noexcept {
    switch (c) {
        case context::orders: return "orders";
        case context::payments: return "payments";
        case context::reviews: return "reviews";
    }
    return "unknown";
}

// "<ctx>.events": one record per command (a commit), key = aggregate id.
[[nodiscard]] constexpr std::string_view topic_of(context c) noexcept {
    switch (c) {
        case context::orders: return "orders.events";
        case context::payments: return "payments.events";
        case context::reviews: return "reviews.events";
    }
    return "unknown.events";
}

// "<ctx>.events.dlq": copies of the records a reader skipped or a read model refused, with
// the original key, value and headers plus a `reason` header (ARCHITECTURE.md decision 5).
[[nodiscard]] constexpr std::string_view dlq_topic_of(context c) noexcept {
    switch (c) {
        case context::orders: return "orders.events.dlq";
        case context::payments: return "payments.events.dlq";
        case context::reviews: return "reviews.events.dlq";
    }
    return "unknown.events.dlq";
}

[[nodiscard]] constexpr std::optional<context> context_of_topic(std::string_view topic) noexcept {
    for (context c : all_contexts) {
        if (topic_of(c) == topic) return c;
    }
    return std::nullopt;
}

// One record, written once at the start of a log's life: the log's identity, which
// every state store remembers so it never applies another log's records.
inline constexpr std::string_view identity_topic = "shopstream.log-identity";

inline constexpr int default_partitions = 16;

}  // namespace shopstream::eventstore
