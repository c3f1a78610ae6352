#include "adapters/payment/gateway.hpp"

#include <charconv>
#include <future>
#include <memory>
#include <utility>

namespace shopstream::adapters::payment {

std::string_view operation_name(operation op) noexcept {
    switch (op) {
        case operation::authorize:
            return "authorize";
        case operation::capture:
            return "capture";
        case operation::void_payment:
            return "void";
        case operation::refund:
            return "refund";
    }
    return "unknown";
}

std::string_view outcome_name(outcome_kind k) noexcept {
    switch (k) {
        case outcome_kind::approved:
            return "approved";
        case outcome_kind::declined:
            return "declined";
        case outcome_kind::transient_failure:
            return "transient_failure";
        case outcome_kind::unknown:
            return "unknown";
    }
    return "unknown";
}

outcome approved(std::string reference) { return {outcome_kind::approved, std::move(reference), ""}; }
outcome declined(std::string reason) { return {outcome_kind::declined, "", std::move(reason)}; }
outcome transient_failure(std::string reason) { return {outcome_kind::transient_failure, "", std::move(reason)}; }
outcome unknown_outcome(std::string reason) { return {outcome_kind::unknown, "", std::move(reason)}; }

outcome payment_gateway::call(operation op, const gateway_request& request, std::chrono::milliseconds timeout) {
    auto answer = std::make_shared<std::promise<outcome>>();
    auto arrived = answer->get_future();
    start(op, request, timeout, [answer](outcome o) { answer->set_value(std::move(o)); });
    return arrived.get();
}

std::string idempotency_key_for(const domain::payment_id& payment, operation op, std::string_view refund_id) {
    std::string key = payment.value() + ":" + std::string(operation_name(op));
    if (op == operation::refund) key += ":" + std::string(refund_id);
    return key;
}

result<std::chrono::milliseconds, std::string> parse_duration(std::string_view text) {
    const auto digits_end = text.find_first_not_of("0123456789");
    const std::string_view digits = text.substr(0, digits_end);
    const std::string_view unit = digits_end == std::string_view::npos ? std::string_view{} : text.substr(digits_end);
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    std::int64_t scale = 0;
    if (unit == "ms") scale = 1;
    if (unit == "s") scale = 1'000;
    if (unit == "m") scale = 60'000;
    constexpr std::int64_t max_ms = 24LL * 3'600'000;  // a day: more is a typo
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || scale == 0 ||
        n > max_ms / scale) {
        return fail("'" + std::string(text) + "' is not a duration: an integer and ms, s or m (250ms, 3s, 2m), at most a day");
    }
    return std::chrono::milliseconds(n * scale);
}

}  // namespace shopstream::adapters::payment
