#pragma once
// The Order aggregate as a pure decider (ARCHITECTURE.md decision 1): a customer places
// an order; the saga confirms it once its payment is authorized, records the capture,
// or rejects it when the payment is declined or times out; an admin ships it; the
// owner or an admin may cancel it until it ships. Values only, thread-compatible.
//
// Rejections name the offending field with the JSON pointer of the HTTP API
// ("/lines/2/unitPrice"); checks run existence → authorization → field validation →
// state rules, so a caller who may not act learns nothing about the order's fields.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "domain/common.hpp"

namespace shopstream::domain::order {

// Limits of one order, part of the API contract.
inline constexpr std::size_t max_lines = 100;
inline constexpr std::int64_t max_quantity = 10'000;
inline constexpr std::int64_t max_unit_price = 1'000'000'000;  // minor units

// Reaches the wire: explicit underlying type, values only ever appended.
enum class cancel_reason : std::uint8_t {
    customer_request = 0,
    payment_declined = 1,
    payment_timeout = 2,
};

// Reaches the wire (state store): values only ever appended.
enum class order_status : std::uint8_t {
    none = 0,
    pending = 1,
    confirmed = 2,
    cancelled = 3,
    shipped = 4,
};

// ---- commands ------------------------------------------------------------------

// A line as the client sent it: raw integers, so out-of-range values are rejected by
// decide() instead of being narrowed on the way in.
struct line_input {
    std::string sku;
    std::int64_t quantity = 0;
    std::int64_t unit_price = 0;  // minor units of the order's currency

    friend bool operator==(const line_input&, const line_input&) = default;
};

struct place_order {
    static constexpr std::string_view name = "place_order";
    order_id id;
    customer_id customer;
    std::vector<line_input> lines;
    std::string currency;
    actor by;
    timestamp_ms at = 0;
    // The payment provider's token for the customer's payment method ("tok_visa"),
    // never card data: see domain/payment/method_token.hpp.
    std::string payment_method_token;
};

struct cancel_order {
    static constexpr std::string_view name = "cancel_order";
    order_id id;
    actor by;
    timestamp_ms at = 0;
};

// Issued by the saga once the order's payment is authorized.
struct confirm_order {
    static constexpr std::string_view name = "confirm_order";
    order_id id;
    payment_id payment;
    actor by;
    timestamp_ms at = 0;
};

// Issued by the saga when the payment is declined or times out (a compensation).
struct reject_order {
    static constexpr std::string_view name = "reject_order";
    order_id id;
    cancel_reason reason = cancel_reason::payment_declined;
    actor by;
    timestamp_ms at = 0;
};

// Issued by the saga after the payment was captured, so ship_order can be decided from
// the order alone.
struct record_payment_capture {
    static constexpr std::string_view name = "record_payment_capture";
    order_id id;
    payment_id payment;
    money amount;
    actor by;
    timestamp_ms at = 0;
};

struct ship_order {
    static constexpr std::string_view name = "ship_order";
    order_id id;
    actor by;
    timestamp_ms at = 0;
};

using command = std::variant<place_order, cancel_order, confirm_order, reject_order,
                             record_payment_capture, ship_order>;

// ---- events (type ids 101..; never reuse or renumber one) ------------------------

struct order_line {
    std::string sku;
    std::int32_t quantity = 0;
    std::int64_t unit_price = 0;  // minor units

    friend bool operator==(const order_line&, const order_line&) = default;
};

struct order_placed {
    static constexpr std::uint16_t type_id = 101;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "order_placed";

    order_id id;
    customer_id customer;
    std::vector<order_line> lines;
    domain::currency currency;
    std::int64_t total = 0;  // Σ quantity × unit_price, minor units
    timestamp_ms at = 0;
    // Empty only in orders placed before the token was required: such an order has
    // nothing the saga can charge.
    std::string payment_method_token;

    friend bool operator==(const order_placed&, const order_placed&) = default;
};

struct order_cancelled {
    static constexpr std::uint16_t type_id = 102;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "order_cancelled";

    order_id id;
    cancel_reason reason = cancel_reason::customer_request;
    actor by;
    timestamp_ms at = 0;

    friend bool operator==(const order_cancelled&, const order_cancelled&) = default;
};

struct order_confirmed {
    static constexpr std::uint16_t type_id = 103;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "order_confirmed";

    order_id id;
    payment_id payment;
    timestamp_ms at = 0;

    friend bool operator==(const order_confirmed&, const order_confirmed&) = default;
};

struct order_shipped {
    static constexpr std::uint16_t type_id = 104;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "order_shipped";

    order_id id;
    actor by;
    timestamp_ms at = 0;

    friend bool operator==(const order_shipped&, const order_shipped&) = default;
};

struct order_payment_captured {
    static constexpr std::uint16_t type_id = 105;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "order_payment_captured";

    order_id id;
    payment_id payment;
    money amount;
    timestamp_ms at = 0;

    friend bool operator==(const order_payment_captured&, const order_payment_captured&) = default;
};

using event = std::variant<order_placed, order_cancelled, order_confirmed, order_shipped,
                           order_payment_captured>;

// ---- state -----------------------------------------------------------------------

struct state {
    order_status status = order_status::none;
    order_id id;
    customer_id customer;
    std::vector<order_line> lines;
    domain::currency currency;
    std::int64_t total = 0;
    // When the order was placed: the saga measures the payment deadline from here.
    timestamp_ms placed_at = 0;
    std::string payment_method_token;  // from order_placed
    std::optional<payment_id> payment;  // set by order_confirmed
    bool payment_captured = false;
    std::optional<order::cancel_reason> cancel_reason;

    [[nodiscard]] bool exists() const noexcept { return status != order_status::none; }

    friend bool operator==(const state&, const state&) = default;
};

[[nodiscard]] state initial_state();
[[nodiscard]] decision<event> decide(const command& cmd, const state& s);
[[nodiscard]] state evolve(state s, const event& e);

struct decider {
    using state = order::state;
    using command = order::command;
    using event = order::event;

    static state initial_state() { return order::initial_state(); }
    static decision<event> decide(const command& cmd, const state& s) {
        return order::decide(cmd, s);
    }
    static state evolve(state s, const event& e) { return order::evolve(std::move(s), e); }
};

}  // namespace shopstream::domain::order
