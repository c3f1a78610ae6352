#include "domain/saga/order_payment.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

namespace shopstream::domain::saga {
namespace {

using order::order_status;
using payment::payment_status;

struct context {
    const order::state& order;
    const payment::state& payment;
    timestamp_ms now;
    const settings& config;
    timestamp_ms deadline;
};

decision issue(stage at, const context& c, step s, saga_command command) {
    decision d;
    d.stage = at;
    d.commands.push_back(next_command{s, command_id_for(c.order.id, s), std::move(command)});
    return d;
}

decision wait(stage at, std::optional<timestamp_ms> wake_at = std::nullopt) {
    decision d;
    d.stage = at;
    d.wake_at = wake_at;
    return d;
}

std::string_view cancel_reason_name(order::cancel_reason r) {
    switch (r) {
        case order::cancel_reason::customer_request:
            return "customer_request";
        case order::cancel_reason::payment_declined:
            return "payment_declined";
        case order::cancel_reason::payment_timeout:
            return "payment_timeout";
    }
    return "unknown";
}

std::string release_reason(const order::state& o) {
    return "order cancelled (" +
           std::string(cancel_reason_name(o.cancel_reason.value_or(order::cancel_reason::customer_request))) + ")";
}

// ---- compensations -------------------------------------------------------------------

decision reject(const context& c, order::cancel_reason reason) {
    const step s = reason == order::cancel_reason::payment_timeout ? step::reject_timeout : step::reject_declined;
    return issue(stage::compensating, c, s, order::reject_order{c.order.id, reason, c.config.by, c.now});
}

// The order is cancelled (by its customer, an admin or a rejection): release what the
// provider still holds.
decision decide_compensation(const context& c) {
    const payment::state& p = c.payment;
    switch (p.status) {
        case payment_status::none:
        case payment_status::declined:
        case payment_status::voided:
            return wait(stage::compensated);
        case payment_status::requested:
            // An approval may still come; it is voided then. Nothing to wait for on the clock.
            return wait(stage::compensating);
        case payment_status::authorized:
            return issue(stage::compensating, c, step::void_payment,
                         payment::void_payment{p.id, release_reason(c.order), c.config.by, c.now});
        case payment_status::captured: {
            const bool refunded = std::any_of(p.refunds.begin(), p.refunds.end(), [](const payment::refund& r) {
                return r.refund_id == cancellation_refund_id;
            });
            if (refunded || p.refundable() == 0) return wait(stage::compensated);
            return issue(stage::compensating, c, step::refund_payment,
                         payment::refund_payment{p.id, std::string(cancellation_refund_id), p.refundable(),
                                                 std::string(p.amount.currency.code()), release_reason(c.order),
                                                 c.config.by, c.now});
        }
    }
    return wait(stage::needs_attention);
}

// ---- the happy path ------------------------------------------------------------------

decision decide_pending(const context& c) {
    const payment::state& p = c.payment;
    switch (p.status) {
        case payment_status::none:
            // An order placed before tokens were required has nothing to charge.
            if (c.order.payment_method_token.empty()) return reject(c, order::cancel_reason::payment_declined);
            if (c.now >= c.deadline) return reject(c, order::cancel_reason::payment_timeout);
            {
                decision d = issue(stage::requesting, c, step::request_payment,
                                   payment::request_payment{payment_id_for(c.order.id), c.order.id, c.order.total,
                                                            std::string(c.order.currency.code()),
                                                            c.order.payment_method_token, c.config.by, c.now});
                d.wake_at = c.deadline;
                return d;
            }
        case payment_status::requested:
            if (c.now >= c.deadline) return reject(c, order::cancel_reason::payment_timeout);
            return wait(stage::authorizing, c.deadline);
        case payment_status::authorized:
            // Judged by when the approval was recorded, not by when the saga sees it: a saga
            // catching up after a restart confirms what was authorized in time.
            if (p.authorized_at >= c.deadline) return reject(c, order::cancel_reason::payment_timeout);
            [[fallthrough]];
        case payment_status::captured:  // captured ahead of the saga (an admin): confirm what is paid
            return issue(stage::confirming, c, step::confirm_order,
                         order::confirm_order{c.order.id, payment_id_for(c.order.id), c.config.by, c.now});
        case payment_status::declined:
        case payment_status::voided:  // released before the order was confirmed: it cannot be paid
            return reject(c, order::cancel_reason::payment_declined);
    }
    return wait(stage::needs_attention);
}

// Confirmed or shipped: take the money, then let the order record it.
decision decide_confirmed(const context& c) {
    const payment::state& p = c.payment;
    switch (p.status) {
        case payment_status::authorized:
            return issue(stage::capturing, c, step::capture_payment, payment::capture_payment{p.id, c.config.by, c.now});
        case payment_status::captured:
            if (c.order.payment_captured) return wait(stage::completed);
            return issue(stage::recording, c, step::record_capture,
                         order::record_payment_capture{c.order.id, p.id, money{p.captured, p.amount.currency},
                                                       c.config.by, c.now});
        case payment_status::none:
        case payment_status::requested:
        case payment_status::declined:
        case payment_status::voided:
            break;
    }
    // Confirmed with a payment that was never authorized or was released: not a state
    // the saga makes, so not one it repairs on its own.
    return wait(stage::needs_attention);
}

}  // namespace

std::string_view step_name(step s) noexcept {
    switch (s) {
        case step::request_payment:
            return "request_payment";
        case step::confirm_order:
            return "confirm_order";
        case step::capture_payment:
            return "capture_payment";
        case step::record_capture:
            return "record_capture";
        case step::reject_declined:
            return "reject_declined";
        case step::reject_timeout:
            return "reject_timeout";
        case step::void_payment:
            return "void_payment";
        case step::refund_payment:
            return "refund_payment";
    }
    return "unknown";
}

std::string_view stage_name(stage s) noexcept {
    switch (s) {
        case stage::not_started:
            return "not_started";
        case stage::requesting:
            return "requesting";
        case stage::authorizing:
            return "authorizing";
        case stage::confirming:
            return "confirming";
        case stage::capturing:
            return "capturing";
        case stage::recording:
            return "recording";
        case stage::completed:
            return "completed";
        case stage::compensating:
            return "compensating";
        case stage::compensated:
            return "compensated";
        case stage::needs_attention:
            return "needs_attention";
    }
    return "unknown";
}

payment_id payment_id_for(const order_id& order) {
    return payment_id{order.value()};
}

command_id command_id_for(const order_id& order, step s) {
    return command_id{"saga:" + order.value() + ":" + std::string(step_name(s))};
}

decision decide(const order::state& order, const payment::state& payment, timestamp_ms now,
                const settings& config) {
    if (!order.exists()) return wait(stage::not_started);
    const timestamp_ms deadline = checked_add(order.placed_at, std::max<timestamp_ms>(config.payment_timeout_ms, 0))
                                      .value_or(std::numeric_limits<timestamp_ms>::max());
    const context c{order, payment, now, config, deadline};
    switch (order.status) {
        case order_status::pending:
            return decide_pending(c);
        case order_status::confirmed:
        case order_status::shipped:
            return decide_confirmed(c);
        case order_status::cancelled:
            return decide_compensation(c);
        case order_status::none:
            break;
    }
    return wait(stage::not_started);
}

}  // namespace shopstream::domain::saga
