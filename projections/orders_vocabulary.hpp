#pragma once
// The words the orders read model stores for statuses and reasons (its CHECK constraints
// list the same), shared by the model (projections/orders_model) and the order queries
// (queries/orders), so a status is spelled once. Stored words are only ever appended to.
//
// Pure constexpr functions; safe from any thread.

#include <optional>
#include <string_view>

#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"

namespace shopstream::projections {

[[nodiscard]] constexpr std::string_view stored_name(domain::order::order_status s) noexcept {
    using enum domain::order::order_status;
    switch (s) {
        case pending: return "pending";
        case confirmed: return "confirmed";
        case cancelled: return "cancelled";
        case shipped: return "shipped";
        case none: break;
    }
    return {};
}

[[nodiscard]] constexpr std::optional<domain::order::order_status> order_status_named(std::string_view name) noexcept {
    using enum domain::order::order_status;
    for (const auto s : {pending, confirmed, cancelled, shipped}) {
        if (stored_name(s) == name) return s;
    }
    return std::nullopt;
}

[[nodiscard]] constexpr std::string_view stored_name(domain::order::cancel_reason r) noexcept {
    using enum domain::order::cancel_reason;
    switch (r) {
        case customer_request: return "customer_request";
        case payment_declined: return "payment_declined";
        case payment_timeout: return "payment_timeout";
    }
    return {};
}

[[nodiscard]] constexpr std::string_view stored_name(domain::payment::payment_status s) noexcept {
    using enum domain::payment::payment_status;
    switch (s) {
        case requested: return "requested";
        case authorized: return "authorized";
        case declined: return "declined";
        case captured: return "captured";
        case voided: return "voided";
        case none: break;
    }
    return {};
}

[[nodiscard]] constexpr std::optional<domain::payment::payment_status> payment_status_named(std::string_view name) noexcept {
    using enum domain::payment::payment_status;
    for (const auto s : {requested, authorized, declined, captured, voided}) {
        if (stored_name(s) == name) return s;
    }
    return std::nullopt;
}

}  // namespace shopstream::projections
