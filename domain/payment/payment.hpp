#pragma once
// The Payment aggregate as a pure decider (ARCHITECTURE.md decision 1): one payment of
// one order through the external gateway — requested, then authorized or declined,
// then captured or voided, and refunded (possibly in parts) after capture. Commands
// come from the saga and the gateway worker (role system) or an admin, never from a
// customer. Values only, thread-compatible.
//
// Checks run existence → authorization → field validation → state rules. Every
// command is idempotent: repeating one that already applied yields no events.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "domain/common.hpp"

namespace shopstream::domain::payment {

// Limits, part of the API contract.
inline constexpr std::int64_t max_amount = 1'000'000'000'000'000'000;  // minor units
inline constexpr std::size_t max_method_token_length = 256;            // printable ASCII
inline constexpr std::size_t max_authorization_code_length = 64;       // printable ASCII
inline constexpr std::size_t max_reason_length = 500;                  // UTF-8 code points

// Reaches the wire (state store): values only ever appended.
enum class payment_status : std::uint8_t {
    none = 0,
    requested = 1,
    authorized = 2,
    declined = 3,
    captured = 4,
    voided = 5,
};

// ---- commands ------------------------------------------------------------------

struct request_payment {
    static constexpr std::string_view name = "request_payment";
    payment_id id;
    order_id order;
    std::int64_t amount = 0;  // minor units, raw so out-of-range values are rejected here
    std::string currency;
    std::string method_token;  // the gateway's opaque token for the customer's payment method
    actor by;
    timestamp_ms at = 0;
};

// The gateway's answer, recorded by the gateway worker. `authorization_code` is read
// when approved, `decline_reason` when declined; the other one is ignored.
struct record_authorization {
    static constexpr std::string_view name = "record_authorization";
    payment_id id;
    bool approved = false;
    std::string authorization_code;
    std::string decline_reason;
    actor by;
    timestamp_ms at = 0;
};

struct capture_payment {
    static constexpr std::string_view name = "capture_payment";
    payment_id id;
    actor by;
    timestamp_ms at = 0;
};

struct void_payment {
    static constexpr std::string_view name = "void_payment";
    payment_id id;
    std::string reason;
    actor by;
    timestamp_ms at = 0;
};

struct refund_payment {
    static constexpr std::string_view name = "refund_payment";
    payment_id id;
    std::string refund_id;  // chosen by the caller; makes a retried refund a repeat
    std::int64_t amount = 0;
    std::string currency;
    std::string reason;
    actor by;
    timestamp_ms at = 0;
};

using command = std::variant<request_payment, record_authorization, capture_payment, void_payment,
                             refund_payment>;

// ---- events (type ids 201..; never reuse or renumber one) ------------------------

struct payment_requested {
    static constexpr std::uint16_t type_id = 201;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "payment_requested";

    payment_id id;
    order_id order;
    money amount;
    std::string method_token;
    timestamp_ms at = 0;

    friend bool operator==(const payment_requested&, const payment_requested&) = default;
};

struct payment_authorized {
    static constexpr std::uint16_t type_id = 202;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "payment_authorized";

    payment_id id;
    std::string authorization_code;
    timestamp_ms at = 0;

    friend bool operator==(const payment_authorized&, const payment_authorized&) = default;
};

struct payment_declined {
    static constexpr std::uint16_t type_id = 203;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "payment_declined";

    payment_id id;
    std::string reason;
    timestamp_ms at = 0;

    friend bool operator==(const payment_declined&, const payment_declined&) = default;
};

struct payment_captured {
    static constexpr std::uint16_t type_id = 204;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "payment_captured";

    payment_id id;
    money amount;  // always the full authorized amount
    timestamp_ms at = 0;

    friend bool operator==(const payment_captured&, const payment_captured&) = default;
};

struct payment_voided {
    static constexpr std::uint16_t type_id = 205;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "payment_voided";

    payment_id id;
    std::string reason;
    timestamp_ms at = 0;

    friend bool operator==(const payment_voided&, const payment_voided&) = default;
};

struct payment_refunded {
    static constexpr std::uint16_t type_id = 206;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "payment_refunded";

    payment_id id;
    std::string refund_id;
    money amount;
    std::string reason;
    timestamp_ms at = 0;

    friend bool operator==(const payment_refunded&, const payment_refunded&) = default;
};

using event = std::variant<payment_requested, payment_authorized, payment_declined,
                           payment_captured, payment_voided, payment_refunded>;

// ---- state -----------------------------------------------------------------------

struct refund {
    std::string refund_id;
    std::int64_t amount = 0;

    friend bool operator==(const refund&, const refund&) = default;
};

struct state {
    payment_status status = payment_status::none;
    payment_id id;
    order_id order;
    money amount;  // requested (and, once authorized, authorized) amount
    std::string method_token;
    std::string authorization_code;
    std::string decline_reason;
    std::string void_reason;
    std::int64_t captured = 0;             // minor units, in amount.currency
    std::int64_t refunded = 0;             // Σ refunds
    std::vector<payment::refund> refunds;  // few per payment: a vector beats a map
    // When the gateway's approval was recorded (payment_authorized.at), 0 before: the saga
    // judges against the order's payment deadline whether it came in time.
    timestamp_ms authorized_at = 0;

    [[nodiscard]] bool exists() const noexcept { return status != payment_status::none; }
    // captured − refunded, never negative (and total even over a corrupt history).
    [[nodiscard]] std::int64_t refundable() const noexcept {
        std::int64_t left = 0;
        if (__builtin_sub_overflow(captured, refunded, &left) || left < 0) return 0;
        return left;
    }

    friend bool operator==(const state&, const state&) = default;
};

[[nodiscard]] state initial_state();
[[nodiscard]] decision<event> decide(const command& cmd, const state& s);
[[nodiscard]] state evolve(state s, const event& e);

struct decider {
    using state = payment::state;
    using command = payment::command;
    using event = payment::event;

    static state initial_state() { return payment::initial_state(); }
    static decision<event> decide(const command& cmd, const state& s) {
        return payment::decide(cmd, s);
    }
    static state evolve(state s, const event& e) { return payment::evolve(std::move(s), e); }
};

}  // namespace shopstream::domain::payment
