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

struct resilient_gateway::attempts {
    operation op;
    gateway_request request;
    std::chrono::milliseconds timeout;
    outcome_callback done;
    int made = 0;  // calls of inner_ so far
    outcome last;  // of the latest call, while a retry waits
};

void resilient_gateway::start(operation op, gateway_request request, std::chrono::milliseconds timeout,
                              outcome_callback done) {
    attempt(std::make_shared<attempts>(attempts{op, std::move(request), timeout, std::move(done), 0, {}}));
}

void resilient_gateway::attempt(std::shared_ptr<attempts> a) {
    if (a->made > 0 && stop_retrying_.load()) return a->done(std::move(a->last));
    if (!breaker_.allow()) return a->done(transient_failure("circuit breaker open: the payment provider is failing"));
    ++a->made;
    inner_.start(a->op, a->request, a->timeout, [this, a](outcome last) mutable {
        if (!last.retryable()) {
            breaker_.record_success();
            return a->done(std::move(last));
        }
        breaker_.record_failure();
        if (a->made >= std::max(retry_.max_attempts, 1) || stop_retrying_.load()) return a->done(std::move(last));
        a->last = std::move(last);
        // The backoff is a timer, not a sleep: the retry runs on the clock's thread.
        const auto delay = next_delay(a->made - 1);
        clock_.schedule(delay, [this, a = std::move(a)]() mutable { attempt(std::move(a)); });
    });
}

}  // namespace shopstream::adapters::payment
