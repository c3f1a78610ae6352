#pragma once
// The payment gateway (payment/gateway.hpp) as the gateway worker's provider
// (commands/gateway_worker.hpp): each call gets its idempotency key (the payment id and the
// step, idempotency_key_for) and the per-call timeout, and its outcome the worker's three
// kinds - approved, declined, or failed (a transient failure or an unknown outcome, both
// safe to retry with the same key).
//
// Asynchronous like the gateway: start() returns at once and the answer reaches the
// callback on the thread the gateway answers on (see payment/gateway.hpp).
//
// Thread-safety: as the wrapped gateway (the resilient gateway is safe for concurrent calls).

#include <chrono>

#include "adapters/payment/gateway.hpp"
#include "commands/gateway_worker.hpp"

namespace shopstream::adapters::payment {

class provider_port final : public commands::payment_provider {
public:
    // `gateway` must outlive the port.
    provider_port(payment_gateway& gateway, std::chrono::milliseconds call_timeout)
        : gateway_(gateway), timeout_(call_timeout) {}

    void start(const commands::provider_request& request, commands::provider_callback done) override;

private:
    payment_gateway& gateway_;
    std::chrono::milliseconds timeout_;
};

}  // namespace shopstream::adapters::payment
