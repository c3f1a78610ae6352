#include "domain/order/order.hpp"

#include "domain/payment/method_token.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

namespace shopstream::domain::order {
namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};

// order_line keeps quantities in 32 bits; the command limit guarantees they fit.
static_assert(max_quantity <= std::numeric_limits<std::int32_t>::max());

bool may_act_for(const actor& by, const customer_id& owner) {
    return by.is_admin() || by.is(owner);
}

std::string line_field(std::size_t i, std::string_view name) {
    return "/lines/" + std::to_string(i) + "/" + std::string(name);
}

decision<event> decide_place(const place_order& c, const state& s) {
    if (!may_act_for(c.by, c.customer)) {
        return reject(rejection_code::forbidden, "",
                      "only the customer themselves or an admin may place an order for a customer");
    }
    if (!is_valid_id(c.id.value())) {
        return reject(rejection_code::invalid, "/orderId",
                      "an order id is 1-128 characters from [A-Za-z0-9._:-]");
    }
    if (!is_valid_id(c.customer.value())) {
        return reject(rejection_code::invalid, "/customerId",
                      "a customer id is 1-128 characters from [A-Za-z0-9._:-]");
    }
    if (c.lines.empty() || c.lines.size() > max_lines) {
        return reject(rejection_code::invalid, "/lines", "an order has 1-100 lines");
    }
    std::vector<order_line> lines;
    lines.reserve(c.lines.size());
    std::int64_t total = 0;
    for (std::size_t i = 0; i < c.lines.size(); ++i) {
        const line_input& in = c.lines[i];
        if (!is_valid_sku(in.sku)) {
            return reject(rejection_code::invalid, line_field(i, "sku"),
                          "a sku is 1-64 characters from [A-Za-z0-9._-], starting with a letter "
                          "or digit");
        }
        const bool repeated = std::any_of(lines.begin(), lines.end(),
                                          [&](const order_line& l) { return l.sku == in.sku; });
        if (repeated) {
            return reject(rejection_code::invalid, line_field(i, "sku"),
                          "the sku appears on an earlier line; use one line with the total "
                          "quantity");
        }
        if (in.quantity < 1 || in.quantity > max_quantity) {
            return reject(rejection_code::invalid, line_field(i, "quantity"),
                          "a quantity is 1-10000");
        }
        if (in.unit_price < 0 || in.unit_price > max_unit_price) {
            return reject(rejection_code::invalid, line_field(i, "unitPrice"),
                          "a unit price is 0-1000000000 minor units");
        }
        // Unreachable with today's limits (100 × 10^4 × 10^9 = 10^15), kept so that
        // raising a limit can never turn into signed overflow.
        const auto line_total = checked_mul(in.quantity, in.unit_price);
        const auto sum = line_total ? checked_add(total, *line_total) : std::nullopt;
        if (!sum) {
            return reject(rejection_code::invalid, "/lines", "the order total overflows");
        }
        total = *sum;
        lines.push_back(order_line{in.sku, static_cast<std::int32_t>(in.quantity), in.unit_price});
    }
    // A free order is refused rather than confirmed without a payment: every later step
    // (confirm_order, record_payment_capture, ship_order) stands on a captured payment,
    // and a payment is at least 1 minor unit. Allowing free orders later is additive;
    // refusing them after having accepted some would not be.
    if (total < 1) {
        return reject(rejection_code::invalid, "/lines",
                      "the order total is 0: an order is paid, so its total is at least 1 minor "
                      "unit");
    }
    auto cur = currency::parse(c.currency);
    if (!cur) return reject(rejection_code::invalid, "/currency", cur.error());
    if (auto problem = payment::method_token_problem(c.payment_method_token)) {
        return reject(rejection_code::invalid, "/paymentMethod/token", std::move(*problem));
    }

    if (s.exists()) {
        if (s.customer == c.customer && s.lines == lines && s.currency == *cur &&
            s.payment_method_token == c.payment_method_token) {
            return std::vector<event>{};
        }
        return reject(rejection_code::conflict, "",
                      "order already exists with a different customer, lines, currency or "
                      "payment method");
    }
    return std::vector<event>{order_placed{c.id, c.customer, std::move(lines), *cur, total, c.at,
                                           c.payment_method_token}};
}

decision<event> decide_cancel(const cancel_order& c, const state& s) {
    if (!may_act_for(c.by, s.customer)) {
        return reject(rejection_code::forbidden, "",
                      "only the customer who placed the order or an admin may cancel it");
    }
    switch (s.status) {
        case order_status::cancelled:
            return std::vector<event>{};
        case order_status::shipped:
            return reject(rejection_code::conflict, "",
                          "the order has shipped; it cannot be cancelled");
        case order_status::pending:
        case order_status::confirmed:
        case order_status::none:
            break;
    }
    return std::vector<event>{order_cancelled{c.id, cancel_reason::customer_request, c.by, c.at}};
}

decision<event> decide_confirm(const confirm_order& c, const state& s) {
    if (!c.by.is_system()) {
        return reject(rejection_code::forbidden, "", "only the payment saga confirms orders");
    }
    if (!is_valid_id(c.payment.value())) {
        return reject(rejection_code::invalid, "/paymentId",
                      "a payment id is 1-128 characters from [A-Za-z0-9._:-]");
    }
    switch (s.status) {
        case order_status::pending:
            return std::vector<event>{order_confirmed{c.id, c.payment, c.at}};
        case order_status::confirmed:
        case order_status::shipped:
            // Shipping keeps the confirmation in force, so a late repeat is still a repeat.
            if (s.payment == c.payment) return std::vector<event>{};
            return reject(rejection_code::conflict, "",
                          "the order was confirmed with another payment");
        case order_status::cancelled:
            return reject(rejection_code::conflict, "", "the order is cancelled");
        case order_status::none:
            break;
    }
    return reject(rejection_code::conflict, "", "the order is not pending");
}

decision<event> decide_reject(const reject_order& c, const state& s) {
    if (!c.by.is_system()) {
        return reject(rejection_code::forbidden, "", "only the payment saga rejects orders");
    }
    if (c.reason != cancel_reason::payment_declined && c.reason != cancel_reason::payment_timeout) {
        return reject(rejection_code::invalid, "/reason",
                      "an order is rejected because its payment was declined or timed out");
    }
    switch (s.status) {
        case order_status::pending:
            return std::vector<event>{order_cancelled{c.id, c.reason, c.by, c.at}};
        case order_status::cancelled:
            return std::vector<event>{};
        case order_status::confirmed:
            return reject(rejection_code::conflict, "",
                          "the order is confirmed; its payment was authorized");
        case order_status::shipped:
            return reject(rejection_code::conflict, "", "the order has shipped");
        case order_status::none:
            break;
    }
    return reject(rejection_code::conflict, "", "the order is not pending");
}

decision<event> decide_record_capture(const record_payment_capture& c, const state& s) {
    if (!c.by.is_system()) {
        return reject(rejection_code::forbidden, "",
                      "only the payment saga records payment captures");
    }
    if (!is_valid_id(c.payment.value())) {
        return reject(rejection_code::invalid, "/paymentId",
                      "a payment id is 1-128 characters from [A-Za-z0-9._:-]");
    }
    if (c.amount.amount != s.total || !(c.amount.currency == s.currency)) {
        return reject(rejection_code::invalid, "/amount",
                      "the captured amount must equal the order total in the order's currency");
    }
    const bool confirmed_with_it =
        (s.status == order_status::confirmed || s.status == order_status::shipped) &&
        s.payment == c.payment;
    if (!confirmed_with_it) {
        return reject(rejection_code::conflict, "", "the order is not confirmed with this payment");
    }
    if (s.payment_captured) return std::vector<event>{};
    return std::vector<event>{order_payment_captured{c.id, c.payment, c.amount, c.at}};
}

decision<event> decide_ship(const ship_order& c, const state& s) {
    if (!c.by.is_admin())
        return reject(rejection_code::forbidden, "", "only an admin ships orders");
    switch (s.status) {
        case order_status::shipped:
            return std::vector<event>{};
        case order_status::pending:
            return reject(rejection_code::conflict, "",
                          "the order is not confirmed yet: its payment is not authorized");
        case order_status::cancelled:
            return reject(rejection_code::conflict, "", "the order is cancelled");
        case order_status::confirmed:
            if (!s.payment_captured) {
                return reject(rejection_code::conflict, "",
                              "the order's payment has not been captured yet");
            }
            return std::vector<event>{order_shipped{c.id, c.by, c.at}};
        case order_status::none:
            break;
    }
    return reject(rejection_code::conflict, "", "the order is not confirmed");
}

}  // namespace

state initial_state() {
    return state{};
}

decision<event> decide(const command& cmd, const state& s) {
    if (!std::holds_alternative<place_order>(cmd) && !s.exists()) {
        return reject(rejection_code::not_found, "", "no such order");
    }
    return std::visit(
        overloaded{
            [&](const place_order& c) { return decide_place(c, s); },
            [&](const cancel_order& c) { return decide_cancel(c, s); },
            [&](const confirm_order& c) { return decide_confirm(c, s); },
            [&](const reject_order& c) { return decide_reject(c, s); },
            [&](const record_payment_capture& c) { return decide_record_capture(c, s); },
            [&](const ship_order& c) { return decide_ship(c, s); },
        },
        cmd);
}

state evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const order_placed& p) {
                       s.status = order_status::pending;
                       s.id = p.id;
                       s.customer = p.customer;
                       s.lines = p.lines;
                       s.currency = p.currency;
                       s.total = p.total;
                       s.placed_at = p.at;
                       s.payment_method_token = p.payment_method_token;
                   },
                   [&](const order_cancelled& c) {
                       s.status = order_status::cancelled;
                       s.cancel_reason = c.reason;
                   },
                   [&](const order_confirmed& c) {
                       s.status = order_status::confirmed;
                       s.payment = c.payment;
                   },
                   [&](const order_shipped&) { s.status = order_status::shipped; },
                   [&](const order_payment_captured&) { s.payment_captured = true; },
               },
               e);
    return s;
}

}  // namespace shopstream::domain::order
