#pragma once
// A circuit breaker guarding the payment provider (issue 12). Hand-written: Debian packages
// no C++ circuit breaker (`apt-cache search circuit breaker` finds only python3-circuitbreaker).
//
//   closed     calls pass; a failure is remembered for `window`; `failure_threshold`
//              failures within the window open the breaker;
//   open       calls are refused without reaching the provider, for `open_for`;
//   half_open  after that, ONE call is let through as a probe (others are still refused):
//              its success closes the breaker (failures forgotten), its failure opens it
//              again for another `open_for`.
//
// A failure is what the caller says it is (the resilient gateway counts transient failures
// and unknown outcomes; a decline is the provider working). Time comes from the injected
// gateway_clock. Thread-safe: one mutex; every member may be called from any thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string_view>

#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment {

enum class breaker_state : std::uint8_t { closed = 0, open = 1, half_open = 2 };

[[nodiscard]] std::string_view breaker_state_name(breaker_state s) noexcept;

struct breaker_settings {
    int failure_threshold = 5;
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
    std::deque<gateway_clock::time_point> failures_;  // within the window, oldest first
    gateway_clock::time_point opened_at_{};
    bool probe_out_ = false;
    std::uint64_t times_opened_ = 0;
};

}  // namespace shopstream::adapters::payment
