#include "adapters/payment/circuit_breaker.hpp"

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
    while (!failures_.empty() && now - failures_.front() >= settings_.window) failures_.pop_front();
}

void circuit_breaker::open(gateway_clock::time_point now) {
    state_ = breaker_state::open;
    opened_at_ = now;
    probe_out_ = false;
    failures_.clear();
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

void circuit_breaker::record_success() {
    std::lock_guard lock(mutex_);
    refresh(clock_.now());
    if (state_ == breaker_state::half_open) {
        state_ = breaker_state::closed;
        probe_out_ = false;
        failures_.clear();
    }
}

void circuit_breaker::record_failure() {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    refresh(now);
    switch (state_) {
        case breaker_state::half_open:
            open(now);
            return;
        case breaker_state::open:
            return;  // a call let through before it opened: already counted as open
        case breaker_state::closed:
            failures_.push_back(now);
            if (static_cast<int>(failures_.size()) >= settings_.failure_threshold) open(now);
            return;
    }
}

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
