#pragma once
// The payment gateway: the external provider that moves the money (issue 12), behind one
// interface with two implementations — the deterministic simulator (payment/simulator.hpp,
// the default) and the HTTP client of an external provider (payment/http_gateway.hpp) —
// and the resilience around either (payment/resilient_gateway.hpp: retries with backoff,
// a circuit breaker).
//
// Every money-moving call — authorize, capture, void, refund — carries its own
// idempotency key (idempotency_key_for: the payment id and the step), so a call repeated
// after a crash, a timeout or a retry is recognised by the provider: it answers what it
// answered the first time and never charges, captures or refunds twice.
//
// What an outcome means to the caller:
//   approved            done at the provider (`reference`: its authorization code);
//   declined(reason)    refused for good (insufficient funds, unknown card); not retried;
//   transient_failure   NOTHING happened (connection refused, 5xx, the breaker is open):
//                       safe to retry;
//   unknown             the call may or may not have taken effect (the answer did not
//                       come within the per-call timeout): retrying with the same key is
//                       safe and finds out.
//
// Calls are asynchronous: start() returns at once and `done` receives the outcome later,
// so a call waiting for its answer holds no thread and thousands can wait at once. `done`
// is called exactly once, on a thread the implementation names (its own I/O or timer
// thread, or inline from start() for an answer that needs no wait); it must not block
// (hand longer work to an executor). call() is the blocking convenience over start()
// for tests and tools; it must not be called from a gateway's or a clock's own thread.
//
// Implementations say their own thread-safety; all here are safe for concurrent calls, and
// each must outlive the calls started on it (their callbacks included).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "domain/common.hpp"

namespace shopstream::adapters::payment {

enum class operation : std::uint8_t { authorize = 0, capture = 1, void_payment = 2, refund = 3 };

[[nodiscard]] std::string_view operation_name(operation op) noexcept;  // "authorize", "capture", "void", "refund"

enum class outcome_kind : std::uint8_t { approved = 0, declined = 1, transient_failure = 2, unknown = 3 };

[[nodiscard]] std::string_view outcome_name(outcome_kind k) noexcept;

struct outcome {
    outcome_kind kind = outcome_kind::unknown;
    std::string reference;  // approved: the provider's code (an authorization code on authorize)
    std::string reason;     // declined: why; transient_failure / unknown: what went wrong

    [[nodiscard]] bool approved() const noexcept { return kind == outcome_kind::approved; }
    [[nodiscard]] bool retryable() const noexcept {
        return kind == outcome_kind::transient_failure || kind == outcome_kind::unknown;
    }
    friend bool operator==(const outcome&, const outcome&) = default;
};

[[nodiscard]] outcome approved(std::string reference);
[[nodiscard]] outcome declined(std::string reason);
[[nodiscard]] outcome transient_failure(std::string reason);
[[nodiscard]] outcome unknown_outcome(std::string reason);

// One call to the provider. `amount` and `method_token` are read by authorize (the token)
// and by capture and refund (the amount); `refund_id` by refund only.
struct gateway_request {
    domain::payment_id payment;
    std::string idempotency_key;  // idempotency_key_for(...)
    domain::money amount;
    std::string method_token;
    std::string refund_id;
};

// "<payment id>:<operation>", and "<payment id>:refund:<refund id>" for a refund (a
// payment may be refunded in parts, each once).
[[nodiscard]] std::string idempotency_key_for(const domain::payment_id& payment, operation op,
                                              std::string_view refund_id = {});

using outcome_callback = std::function<void(outcome)>;

class payment_gateway {
public:
    virtual ~payment_gateway() = default;

    // Starts one call; `done` gets its outcome within about `timeout` (unknown when the
    // answer did not come in time), exactly once. See the opening comment for the thread.
    virtual void start(operation op, gateway_request request, std::chrono::milliseconds timeout,
                       outcome_callback done) = 0;

    // start(), waiting on the calling thread for the outcome.
    [[nodiscard]] outcome call(operation op, const gateway_request& request, std::chrono::milliseconds timeout);

    [[nodiscard]] outcome authorize(const gateway_request& r, std::chrono::milliseconds timeout) {
        return call(operation::authorize, r, timeout);
    }
    [[nodiscard]] outcome capture(const gateway_request& r, std::chrono::milliseconds timeout) {
        return call(operation::capture, r, timeout);
    }
    [[nodiscard]] outcome void_payment(const gateway_request& r, std::chrono::milliseconds timeout) {
        return call(operation::void_payment, r, timeout);
    }
    [[nodiscard]] outcome refund(const gateway_request& r, std::chrono::milliseconds timeout) {
        return call(operation::refund, r, timeout);
    }
};

// The clock and the timers of the resilience code (backoff) and the simulator (latency,
// tok_timeout), injected so tests run on a fake one that runs scheduled work only when the
// test advances it (STYLE.md: all I/O, the clock included, through one interface). A
// timer holds no thread while it waits.
class gateway_clock {
public:
    using duration = std::chrono::milliseconds;
    using time_point = std::chrono::steady_clock::time_point;

    virtual ~gateway_clock() = default;
    [[nodiscard]] virtual time_point now() = 0;
    // Runs `work` once, about `after` from now, on the clock's timer thread (never inline);
    // `work` must not block. Work still waiting when the clock is destroyed is dropped
    // unrun, so a clock must outlive every call that scheduled on it.
    virtual void schedule(duration after, std::function<void()> work) = 0;
};

// "250ms", "3s", "2m" (a non-negative integer and a unit) → milliseconds; the reason otherwise.
[[nodiscard]] result<std::chrono::milliseconds, std::string> parse_duration(std::string_view text);

// std::chrono::steady_clock, its timers on one process-wide timer thread
// (payment/timer_clock.hpp). Thread-safe.
[[nodiscard]] gateway_clock& system_clock();

}  // namespace shopstream::adapters::payment
