#pragma once
// Per-principal rate limiting of the HTTP API (issue #4, "Errors and bad input"): one
// token bucket per principal (the JWT subject), refilled at `rate` tokens per second up
// to `burst` tokens; a request takes one token or is refused with the number of seconds
// after which one will be there (the 429's Retry-After).
//
// The clock is a parameter (steady time), so tests drive it; the server passes
// steady_clock::now(). A time earlier than a bucket's last one (two threads reading the
// clock in one order and acquiring in the other) counts as no time passing.
//
// Memory: a bucket that has refilled to `burst` is indistinguishable from a new one, so
// each shard drops its full buckets in a sweep, run by an acquire at most once per
// `sweep_interval` of the clock it is given. What stays are the buckets of principals
// that made a request within the last burst/rate seconds (plus one sweep interval).
//
// Thread-safety: every member function may be called from any thread. The buckets are
// spread over shards by the principal's hash, each with its own mutex.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace shopstream::adapters::http {

struct rate_limit_options {
    // Tokens per second per principal; 0 turns the limiter off (every request allowed).
    double rate = 0;
    // Bucket size; nullopt: max(1, 2 × rate). Values below 1 are taken as 1.
    std::optional<double> burst;
    std::size_t shards = 16;
    std::chrono::steady_clock::duration sweep_interval = std::chrono::seconds(10);
};

class rate_limiter {
public:
    using time_point = std::chrono::steady_clock::time_point;

    // Allowed, or refused with Retry-After seconds (rounded up, at least 1).
    struct decision {
        bool allowed = true;
        std::int64_t retry_after_seconds = 0;  // 0 when allowed
    };

    explicit rate_limiter(rate_limit_options options);
    ~rate_limiter();
    rate_limiter(const rate_limiter&) = delete;
    rate_limiter& operator=(const rate_limiter&) = delete;

    [[nodiscard]] decision try_acquire(std::string_view principal, time_point now);

    [[nodiscard]] bool enabled() const noexcept { return rate_ > 0; }
    [[nodiscard]] double rate() const noexcept { return rate_; }
    [[nodiscard]] double burst() const noexcept { return burst_; }
    // Buckets held right now (over every shard); for tests and metrics.
    [[nodiscard]] std::size_t bucket_count() const;

    // Longest Retry-After ever returned (a tiny rate would otherwise overflow it).
    static constexpr std::int64_t max_retry_after_seconds = 24 * 60 * 60;

private:
    struct shard;
    double rate_;
    double burst_;
    std::chrono::steady_clock::duration sweep_interval_;
    std::size_t shard_count_;
    std::unique_ptr<shard[]> shards_;
};

}  // namespace shopstream::adapters::http
