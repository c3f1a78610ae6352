#pragma once
// The resilience in front of a payment gateway (issue 12): bounded retries of transient
// failures and unknown outcomes with exponential backoff and full jitter, and a circuit
// breaker (payment/circuit_breaker.hpp) so that a provider that is down is left alone
// instead of being hammered by every worker.
//
// A retry reuses the request's idempotency key, so retrying an `unknown` outcome (the
// provider may have acted) is safe: the provider answers the first call's result. A
// decline is final and is not retried. While the breaker refuses, a call fails fast with
// transient_failure("circuit breaker open") without reaching the provider or waiting.
//
// Backoff before retry n (0-based): a uniform random delay in [0, min(max_delay,
// base_delay × 2^n)] ("full jitter", so that workers retrying together spread out).
//
// Asynchronous like every gateway: the backoff is a timer of the injected clock, not a
// sleep, so a call waiting to retry holds no thread. `done` runs where the last attempt's
// answer arrived (the inner gateway's thread, or inline from start()), or inline from
// start() or on the clock's thread when the breaker refuses an attempt.
//
// Thread-safe: the breaker and the random source are guarded; calls may run concurrently
// (`inner` must allow that too). `inner` and the clock must outlive every call.

#include <chrono>
#include <cstdint>
#include <memory>
#include <atomic>
#include <mutex>
#include <random>

#include "adapters/payment/circuit_breaker.hpp"
#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment {

struct retry_policy {
    int max_attempts = 4;  // the first call included
    std::chrono::milliseconds base_delay{100};
    std::chrono::milliseconds max_delay{2'000};
};

// The upper bound of the backoff before retry `retry` (0-based): min(max_delay,
// base_delay × 2^retry), without overflow for any retry count.
[[nodiscard]] std::chrono::milliseconds backoff_ceiling(const retry_policy& policy, int retry) noexcept;

// The delay before retry `retry` for a uniformly random `random`: in [0, backoff_ceiling].
[[nodiscard]] std::chrono::milliseconds backoff_delay(const retry_policy& policy, int retry,
                                                      std::uint64_t random) noexcept;

class resilient_gateway final : public payment_gateway {
public:
    resilient_gateway(payment_gateway& inner, retry_policy retry = {}, breaker_settings breaker = {},
                      gateway_clock& clock = system_clock(), std::uint64_t seed = std::random_device{}());

    // Up to max_attempts calls of `inner`, each with `timeout`, backing off in between.
    void start(operation op, gateway_request request, std::chrono::milliseconds timeout,
               outcome_callback done) override;

    [[nodiscard]] circuit_breaker& breaker() noexcept { return breaker_; }

    // For shutdown: from now on a call that failed is answered with that failure instead of
    // being tried again, and a retry already waiting answers the failure before it when its
    // timer fires. So whoever waits for the calls in flight waits at most one per-call
    // timeout plus one backoff, not every attempt's. Calls started later get one attempt.
    void stop_retrying() noexcept { stop_retrying_.store(true); }

private:
    struct attempts;
    void attempt(std::shared_ptr<attempts> a);
    std::chrono::milliseconds next_delay(int retry);

    payment_gateway& inner_;
    retry_policy retry_;
    circuit_breaker breaker_;
    gateway_clock& clock_;
    std::mutex random_mutex_;
    std::mt19937_64 random_;
    std::atomic<bool> stop_retrying_{false};
};

}  // namespace shopstream::adapters::payment
