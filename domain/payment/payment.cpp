#include "domain/payment/payment.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "base/utf8.hpp"

namespace shopstream::domain::payment {
namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};

bool is_printable_ascii(std::string_view text, std::size_t max_length) {
    return !text.empty() && text.size() <= max_length &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

bool is_reason(std::string_view text) {
    const auto n = utf8::count_code_points(text);
    return n && *n >= 1 && *n <= max_reason_length;
}

bool may_handle_payments(const actor& by) {
    return by.is_system() || by.is_admin();
}

std::optional<rejection> forbidden_unless_staff(const actor& by) {
    if (may_handle_payments(by)) return std::nullopt;
    return rejection{rejection_code::forbidden, "",
                     "payments are handled by the payment saga, the gateway worker or an admin"};
}

decision<event> decide_request(const request_payment& c, const state& s) {
    if (auto no = forbidden_unless_staff(c.by)) return std::unexpected(std::move(*no));
    if (!is_valid_id(c.id.value())) {
        return reject(rejection_code::invalid, "/paymentId",
                      "a payment id is 1-128 characters from [A-Za-z0-9._:-]");
    }
    if (!is_valid_id(c.order.value())) {
        return reject(rejection_code::invalid, "/orderId",
                      "an order id is 1-128 characters from [A-Za-z0-9._:-]");
    }
    if (c.amount < 1 || c.amount > max_amount) {
        return reject(rejection_code::invalid, "/amount/amount",
                      "a payment amount is 1-10^18 minor units");
    }
    auto cur = currency::parse(c.currency);
    if (!cur) return reject(rejection_code::invalid, "/amount/currency", cur.error());
    if (!is_printable_ascii(c.method_token, max_method_token_length)) {
        return reject(rejection_code::invalid, "/methodToken",
                      "a payment method token is 1-256 printable ASCII characters");
    }
    const money amount{c.amount, *cur};
    if (s.exists()) {
        if (s.order == c.order && s.amount == amount && s.method_token == c.method_token) {
            return std::vector<event>{};
        }
        return reject(rejection_code::conflict, "",
                      "payment already requested with another order, amount or method");
    }
    return std::vector<event>{payment_requested{c.id, c.order, amount, c.method_token, c.at}};
}

decision<event> decide_authorization(const record_authorization& c, const state& s) {
    if (!c.by.is_system()) {
        return reject(rejection_code::forbidden, "",
                      "only the payment gateway worker records the gateway's answer");
    }
    if (c.approved && !is_printable_ascii(c.authorization_code, max_authorization_code_length)) {
        return reject(rejection_code::invalid, "/authorizationCode",
                      "an authorization code is 1-64 printable ASCII characters");
    }
    if (!c.approved && !is_reason(c.decline_reason)) {
        return reject(rejection_code::invalid, "/declineReason",
                      "a decline reason is 1-500 characters of valid UTF-8");
    }
    switch (s.status) {
        case payment_status::requested:
            if (c.approved) {
                return std::vector<event>{payment_authorized{c.id, c.authorization_code, c.at}};
            }
            return std::vector<event>{payment_declined{c.id, c.decline_reason, c.at}};
        case payment_status::authorized:
        case payment_status::captured:
        case payment_status::voided:
            if (c.approved && c.authorization_code == s.authorization_code) {
                return std::vector<event>{};
            }
            return reject(rejection_code::conflict, "",
                          c.approved ? "the payment was authorized with another code"
                                     : "the payment was already authorized");
        case payment_status::declined:
            if (!c.approved) return std::vector<event>{};
            return reject(rejection_code::conflict, "", "the payment was already declined");
        case payment_status::none:
            break;
    }
    return reject(rejection_code::conflict, "", "the payment is not awaiting authorization");
}

decision<event> decide_capture(const capture_payment& c, const state& s) {
    if (auto no = forbidden_unless_staff(c.by)) return std::unexpected(std::move(*no));
    switch (s.status) {
        case payment_status::authorized:
            return std::vector<event>{payment_captured{c.id, s.amount, c.at}};
        case payment_status::captured:
            return std::vector<event>{};
        case payment_status::requested:
            return reject(rejection_code::conflict, "", "the payment is not authorized yet");
        case payment_status::declined:
            return reject(rejection_code::conflict, "", "the payment was declined");
        case payment_status::voided:
            return reject(rejection_code::conflict, "", "the payment was voided");
        case payment_status::none:
            break;
    }
    return reject(rejection_code::conflict, "", "the payment is not authorized");
}

decision<event> decide_void(const void_payment& c, const state& s) {
    if (auto no = forbidden_unless_staff(c.by)) return std::unexpected(std::move(*no));
    if (!is_reason(c.reason)) {
        return reject(rejection_code::invalid, "/reason",
                      "a reason is 1-500 characters of valid UTF-8");
    }
    switch (s.status) {
        case payment_status::authorized:
            return std::vector<event>{payment_voided{c.id, c.reason, c.at}};
        case payment_status::voided:
            return std::vector<event>{};
        case payment_status::captured:
            return reject(rejection_code::conflict, "",
                          "the payment was captured; refund it instead");
        case payment_status::requested:
            return reject(rejection_code::conflict, "", "the payment is not authorized yet");
        case payment_status::declined:
            return reject(rejection_code::conflict, "", "the payment was declined");
        case payment_status::none:
            break;
    }
    return reject(rejection_code::conflict, "", "the payment is not authorized");
}

decision<event> decide_refund(const refund_payment& c, const state& s) {
    if (auto no = forbidden_unless_staff(c.by)) return std::unexpected(std::move(*no));
    if (!is_valid_id(c.refund_id)) {
        return reject(rejection_code::invalid, "/refundId",
                      "a refund id is 1-128 characters from [A-Za-z0-9._:-]");
    }
    if (c.amount < 1 || c.amount > max_amount) {
        return reject(rejection_code::invalid, "/amount/amount",
                      "a refund amount is at least 1 minor unit");
    }
    auto cur = currency::parse(c.currency);
    if (!cur) return reject(rejection_code::invalid, "/amount/currency", cur.error());
    if (!(*cur == s.amount.currency)) {
        return reject(rejection_code::invalid, "/amount/currency",
                      "a refund is in the payment's currency");
    }
    if (!is_reason(c.reason)) {
        return reject(rejection_code::invalid, "/reason",
                      "a reason is 1-500 characters of valid UTF-8");
    }
    if (s.status != payment_status::captured) {
        return reject(rejection_code::conflict, "", "only a captured payment can be refunded");
    }
    // A retried refund must be recognised before the bound below, which it would fail
    // once its own amount has been taken off.
    const auto earlier = std::find_if(s.refunds.begin(), s.refunds.end(),
                                      [&](const refund& r) { return r.refund_id == c.refund_id; });
    if (earlier != s.refunds.end()) {
        if (earlier->amount == c.amount) return std::vector<event>{};
        return reject(rejection_code::conflict, "",
                      "this refund id was already used for another amount");
    }
    if (c.amount > s.refundable()) {
        return reject(rejection_code::invalid, "/amount/amount",
                      "the refund exceeds what is left of the captured amount (" +
                          std::to_string(s.refundable()) + " minor units)");
    }
    return std::vector<event>{
        payment_refunded{c.id, c.refund_id, money{c.amount, *cur}, c.reason, c.at}};
}

}  // namespace

state initial_state() {
    return state{};
}

decision<event> decide(const command& cmd, const state& s) {
    if (!std::holds_alternative<request_payment>(cmd) && !s.exists()) {
        return reject(rejection_code::not_found, "", "no such payment");
    }
    return std::visit(overloaded{
                          [&](const request_payment& c) { return decide_request(c, s); },
                          [&](const record_authorization& c) { return decide_authorization(c, s); },
                          [&](const capture_payment& c) { return decide_capture(c, s); },
                          [&](const void_payment& c) { return decide_void(c, s); },
                          [&](const refund_payment& c) { return decide_refund(c, s); },
                      },
                      cmd);
}

state evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const payment_requested& r) {
                       s.status = payment_status::requested;
                       s.id = r.id;
                       s.order = r.order;
                       s.amount = r.amount;
                       s.method_token = r.method_token;
                   },
                   [&](const payment_authorized& a) {
                       s.status = payment_status::authorized;
                       s.authorization_code = a.authorization_code;
                       s.authorized_at = a.at;
                   },
                   [&](const payment_declined& d) {
                       s.status = payment_status::declined;
                       s.decline_reason = d.reason;
                   },
                   [&](const payment_captured& c) {
                       s.status = payment_status::captured;
                       s.captured = c.amount.amount;
                   },
                   [&](const payment_voided& v) {
                       s.status = payment_status::voided;
                       s.void_reason = v.reason;
                   },
                   [&](const payment_refunded& r) {
                       s.refunds.push_back(refund{r.refund_id, r.amount.amount});
                       // Saturates only on a corrupt history; keeps evolve total.
                       s.refunded = checked_add(s.refunded, r.amount.amount)
                                        .value_or(std::numeric_limits<std::int64_t>::max());
                   },
               },
               e);
    return s;
}

}  // namespace shopstream::domain::payment
