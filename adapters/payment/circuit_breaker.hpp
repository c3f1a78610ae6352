#pragma once
// A circuit breaker guarding the payment provider (issue 12). Hand-written: Debian packages
// no C++ circuit breaker (`apt-cache search circuit breaker` finds only python3-circuitbreaker).
//
//   closed     calls pass; each call's result (success or failure) is remembered for
//              `window`. The breaker opens when, among the calls of the window, there are
//              at least `minimum_calls` and the failures are at least `failure_rate` of
//              them (resilience4j's rule, over a time window). A rate, not a count: under a
//              load of many payments a few failures (a token that times out, a flaky one)
//              are a small share and leave it closed, while an outage fails nearly every
//              call and opens it; the minimum keeps a handful of calls from deciding;
//   open       calls are refused without reaching the provider, for `open_for`;
//   half_open  after that, ONE call is let through as a probe (others are still refused):
//              its success closes the breaker (the window starts afresh), its failure opens
//              it again for another `open_for`.
//
// A failure is what the caller says it is: the resilient gateway records each attempt that
// got no answer - a transient failure (connection refused, HTTP 429/503) or an unknown
// outcome (no answer within the per-call timeout, another 5xx) - as a failure, and any
// answer, a decline included, as a success: a decline is the provider working. Time comes
// from the injected gateway_clock. Thread-safe: one mutex; every member may be called from
// any thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string_view>

#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment {

enum class breaker_state : std::uint8_t { closed = 0, open = 1, half_open = 2 };

[[nodiscard]] std::string_view breaker_state_name(breaker_state s) noexcept;

// The defaults suit the saga's load (tests/e2e/serve_saga_test.cpp's token mix, a sixth of
// the payments timing out and a sixth flaky, fails ~1/3 of the attempts and stays closed)
// and still open within a second of an outage (each payment makes up to 4 attempts).
struct breaker_settings {
    double failure_rate = 0.5;  // the share of failed calls that opens it, in (0, 1]
    int minimum_calls = 20;     // calls within the window before the rate counts
    std::chrono::milliseconds window{10'000};
    std::chrono::milliseconds open_for{5'000};
};

class circuit_breaker {
public:
    explicit circuit_breaker(breaker_settings settings = {}, gateway_clock& clock = system_clock());

    // Whether a call may go out now. In half_open, true for exactly one caller (the probe)
    // until its result is recorded.
    [[nodiscard]] bool allow();
    void record_success();
    void record_failure();

    // The state now (open turns half_open here once open_for has passed).
    [[nodiscard]] breaker_state state();
    [[nodiscard]] std::uint64_t times_opened() const;

private:
    void refresh(gateway_clock::time_point now);  // under mutex_
    void open(gateway_clock::time_point now);     // under mutex_

    breaker_settings settings_;
    gateway_clock& clock_;
    mutable std::mutex mutex_;
    breaker_state state_ = breaker_state::closed;
    struct call_result {
        gateway_clock::time_point at;
        bool failed = false;
    };
    void record(bool failed);  // a call let through came back
    std::deque<call_result> calls_;  // within the window, oldest first
    int failures_ = 0;               // of calls_
    gateway_clock::time_point opened_at_{};
    bool probe_out_ = false;
    std::uint64_t times_opened_ = 0;
};

}  // namespace shopstream::adapters::payment
