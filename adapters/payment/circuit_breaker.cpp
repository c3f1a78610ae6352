#include "adapters/payment/circuit_breaker.hpp"

#include <algorithm>

namespace shopstream::adapters::payment {

std::string_view breaker_state_name(breaker_state s) noexcept {
    switch (s) {
        case breaker_state::closed:
            return "closed";
        case breaker_state::open:
            return "open";
        case breaker_state::half_open:
            return "half_open";
    }
    return "unknown";
}

circuit_breaker::circuit_breaker(breaker_settings settings, gateway_clock& clock)
    : settings_(settings), clock_(clock) {}

void circuit_breaker::refresh(gateway_clock::time_point now) {
    if (state_ == breaker_state::open && now - opened_at_ >= settings_.open_for) {
        state_ = breaker_state::half_open;
        probe_out_ = false;
    }
    while (!calls_.empty() && now - calls_.front().at >= settings_.window) {
        if (calls_.front().failed) --failures_;
        calls_.pop_front();
    }
}

void circuit_breaker::open(gateway_clock::time_point now) {
    state_ = breaker_state::open;
    opened_at_ = now;
    probe_out_ = false;
    calls_.clear();
    failures_ = 0;
    ++times_opened_;
}

bool circuit_breaker::allow() {
    std::lock_guard lock(mutex_);
    refresh(clock_.now());
    switch (state_) {
        case breaker_state::closed:
            return true;
        case breaker_state::open:
            return false;
        case breaker_state::half_open:
            if (probe_out_) return false;
            probe_out_ = true;
            return true;
    }
    return false;
}

void circuit_breaker::record(bool failed) {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    refresh(now);
    switch (state_) {
        case breaker_state::half_open:
            if (failed) {
                open(now);
            } else {
                state_ = breaker_state::closed;
                probe_out_ = false;
                calls_.clear();
                failures_ = 0;
            }
            return;
        case breaker_state::open:
            return;  // a call let through before it opened: it is open already
        case breaker_state::closed: {
            calls_.push_back({now, failed});
            if (failed) ++failures_;
            const auto calls = static_cast<double>(calls_.size());
            if (failed && static_cast<int>(calls_.size()) >= std::max(settings_.minimum_calls, 1) &&
                static_cast<double>(failures_) >= settings_.failure_rate * calls) {
                open(now);
            }
            return;
        }
    }
}

void circuit_breaker::record_success() { record(false); }

void circuit_breaker::record_failure() { record(true); }

breaker_state circuit_breaker::state() {
    std::lock_guard lock(mutex_);
    refresh(clock_.now());
    return state_;
}

std::uint64_t circuit_breaker::times_opened() const {
    std::lock_guard lock(mutex_);
    return times_opened_;
}

}  // namespace shopstream::adapters::payment
