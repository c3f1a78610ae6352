#include "adapters/payment/resilient_gateway.hpp"

#include <algorithm>

namespace shopstream::adapters::payment {

std::chrono::milliseconds backoff_ceiling(const retry_policy& policy, int retry) noexcept {
    const std::int64_t cap = std::max<std::int64_t>(policy.max_delay.count(), 0);
    std::int64_t ceiling = std::max<std::int64_t>(policy.base_delay.count(), 0);
    for (int i = 0; i < retry && ceiling < cap; ++i) ceiling = ceiling > cap / 2 ? cap : ceiling * 2;  // no overflow
    return std::chrono::milliseconds(std::min(ceiling, cap));
}

std::chrono::milliseconds backoff_delay(const retry_policy& policy, int retry, std::uint64_t random) noexcept {
    const auto ceiling = static_cast<std::uint64_t>(backoff_ceiling(policy, retry).count());
    return std::chrono::milliseconds(static_cast<std::int64_t>(random % (ceiling + 1)));
}

resilient_gateway::resilient_gateway(payment_gateway& inner, retry_policy retry, breaker_settings breaker,
                                     gateway_clock& clock, std::uint64_t seed)
    : inner_(inner), retry_(retry), breaker_(breaker, clock), clock_(clock), random_(seed) {}

std::chrono::milliseconds resilient_gateway::next_delay(int retry) {
    std::lock_guard lock(random_mutex_);
    return backoff_delay(retry_, retry, random_());
}

outcome resilient_gateway::call(operation op, const gateway_request& request, std::chrono::milliseconds timeout) {
    const int attempts = std::max(retry_.max_attempts, 1);
    outcome last = transient_failure("no attempt made");
    for (int attempt = 0; attempt < attempts; ++attempt) {
        if (attempt > 0) clock_.sleep_for(next_delay(attempt - 1));
        if (!breaker_.allow()) return transient_failure("circuit breaker open: the payment provider is failing");
        last = inner_.call(op, request, timeout);
        if (!last.retryable()) {
            breaker_.record_success();
            return last;
        }
        breaker_.record_failure();
    }
    return last;
}

}  // namespace shopstream::adapters::payment
