#pragma once
// The real gateway_clock (payment/gateway.hpp): std::chrono::steady_clock, and timers on
// one thread of its own - an asio io_context running asio::steady_timer waits (Debian
// libasio-dev, standalone asio; its headers stay in timer_clock.cpp behind the pimpl).
// Thousands of timers may wait at once without a thread each: the payment simulator's
// latency and tok_timeout, and the resilient gateway's backoff.
//
// Scheduled work runs on the clock's thread, one item at a time, in deadline order, so it
// must be short and must not block (the gateway callbacks it ends in hand their work on).
// The destructor stops the thread; work still waiting then is dropped unrun (and
// destroyed), so the clock is destroyed only after every call that uses it has finished.
//
// Thread-safety: now() and schedule() from any thread, scheduled work included.

#include <functional>
#include <memory>

#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment {

class timer_clock final : public gateway_clock {
public:
    timer_clock();
    timer_clock(const timer_clock&) = delete;
    timer_clock& operator=(const timer_clock&) = delete;
    ~timer_clock() override;

    [[nodiscard]] time_point now() override;
    void schedule(duration after, std::function<void()> work) override;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::adapters::payment
