#pragma once
// Gateway requests as the payment tests write them (tests/adapters/payment_gateway_test,
// tests/e2e/payment_gateway_http_test): amounts in EUR minor units, the idempotency key
// derived as the gateway worker derives it.

#include <cstdint>
#include <string>
#include <utility>

#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment::test_requests {

inline domain::money eur(std::int64_t amount) { return {amount, *domain::currency::parse("EUR")}; }

inline gateway_request request(std::string payment, std::string token, std::int64_t amount, operation op,
                               std::string refund_id = {}) {
    gateway_request r;
    r.payment = domain::payment_id{payment};
    r.idempotency_key = idempotency_key_for(r.payment, op, refund_id);
    r.amount = eur(amount);
    r.method_token = std::move(token);
    r.refund_id = std::move(refund_id);
    return r;
}

}  // namespace shopstream::adapters::payment::test_requests
