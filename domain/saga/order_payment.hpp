#pragma once
// The order/payment saga's decisions (ARCHITECTURE.md decision 7), pure: from the state of
// one order and of its payment (either may not exist yet) and the clock, the command(s) the
// saga issues next. The runtime (commands/, later) reacts to every applied order or payment
// event and to due deadlines by calling decide() and handing the commands to the command
// handlers; it keeps no state of its own beyond the deadlines, which decide() also names.
//
// Exactly-once effects without transactions: every command carries a command id made of the
// order id and the step ("saga:<order id>:<step>"), so deciding again on the same states —
// after a crash, or in a second process during a rebalance — issues the same command id and
// the apply rule turns the repeat into a duplicate. A step is issued at most once per order:
// no decision leads back to an earlier step.
//
// Happy path:   order pending, no payment      → request_payment
//               pending, payment authorized    → confirm_order
//               confirmed, authorized          → capture_payment
//               confirmed, captured            → record_payment_capture → complete
// Compensations (kept apart in decide_compensation):
//               pending, declined              → reject_order{payment_declined}
//               pending, no answer by deadline → reject_order{payment_timeout}
//               pending, authorized too late   → reject_order{payment_timeout} (then void)
//               cancelled, authorized          → void_payment
//               cancelled, captured            → refund_payment of what is left to refund
//
// The payment of an order is keyed by the order's own id (payment_id_for): Kafka's murmur2
// partitioner then puts it on the same partition number of payments.events as the order on
// orders.events for any partition count the two topics share, so the consumer-group member
// owning one owns the other. Any derived string (a prefix, a suffix) would hash elsewhere,
// and one searched to hash alike would hold only for the partition count it was searched for.
//
// Values only, thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/common.hpp"
#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"

namespace shopstream::domain::saga {

// Each step the saga may take for one order; its name is part of the command id (so
// reaches the log: names are never changed, values only ever appended).
enum class step : std::uint8_t {
    request_payment = 0,
    confirm_order = 1,
    capture_payment = 2,
    record_capture = 3,
    reject_declined = 4,
    reject_timeout = 5,
    void_payment = 6,
    refund_payment = 7,
};

[[nodiscard]] std::string_view step_name(step s) noexcept;

// Where one saga instance stands, for metrics and logs.
enum class stage : std::uint8_t {
    not_started = 0,      // no order (yet)
    requesting = 1,       // pending order, payment not requested yet
    authorizing = 2,      // payment requested, no answer yet
    confirming = 3,       // authorized in time, order not confirmed yet
    capturing = 4,        // order confirmed, payment not captured yet
    recording = 5,        // captured, the order has not recorded it yet
    completed = 6,        // confirmed (or shipped) and paid
    compensating = 7,     // cancelled, money still held at the provider or a rejection due
    compensated = 8,      // cancelled, nothing held
    needs_attention = 9,  // states the saga never produces (an admin acted): no command
};

[[nodiscard]] std::string_view stage_name(stage s) noexcept;

// The payment of `order`: keyed by the order id (see the opening comment).
[[nodiscard]] payment_id payment_id_for(const order_id& order);

// "saga:<order id>:<step>": at most 5 + 128 + 1 + 15 characters, within a command id's 255.
[[nodiscard]] command_id command_id_for(const order_id& order, step s);

// The refund a cancelled, captured order gets: one per payment, so a fixed id makes a
// repeated refund a repeat (payment::decide_refund).
inline constexpr std::string_view cancellation_refund_id = "order-cancelled";

struct settings {
    timestamp_ms payment_timeout_ms = 30'000;  // serve --payment-timeout
    actor by{"order-saga", role::system};
};

using saga_command = std::variant<order::confirm_order, order::reject_order, order::record_payment_capture,
                                  payment::request_payment, payment::capture_payment, payment::void_payment,
                                  payment::refund_payment>;

struct next_command {
    saga::step step = step::request_payment;
    command_id id;
    saga_command command;
};

struct decision {
    saga::stage stage = stage::not_started;
    // At most one today: each state pair has one next step.
    std::vector<next_command> commands;
    // When to decide again if no event arrives first: the payment deadline while the
    // order waits for its payment (placed_at + payment_timeout_ms).
    std::optional<timestamp_ms> wake_at;
};

// The next step for one order and its payment. `order` or `payment` not existing is the
// initial state (exists() false). `now` is the clock, read only to judge the deadline of a
// payment still unanswered; an authorization is judged on- or overdue by its own time.
[[nodiscard]] decision decide(const order::state& order, const payment::state& payment, timestamp_ms now,
                              const settings& config = {});

}  // namespace shopstream::domain::saga
