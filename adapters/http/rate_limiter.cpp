#include "adapters/http/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace shopstream::adapters::http {
namespace {

struct bucket {
    double tokens = 0;
    rate_limiter::time_point last{};
};

// Heterogeneous lookup: a string_view principal finds its bucket without a copy.
struct principal_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

double seconds_between(rate_limiter::time_point from, rate_limiter::time_point to) {
    if (to <= from) return 0;
    return std::chrono::duration<double>(to - from).count();
}

}  // namespace

struct rate_limiter::shard {
    std::mutex mu;
    std::unordered_map<std::string, bucket, principal_hash, std::equal_to<>> buckets;
    std::optional<time_point> last_sweep;
};

rate_limiter::rate_limiter(rate_limit_options options)
    : rate_(std::isfinite(options.rate) && options.rate > 0 ? options.rate : 0),
      burst_(std::max(1.0, options.burst.value_or(2 * rate_))),
      sweep_interval_(options.sweep_interval),
      shard_count_(std::max<std::size_t>(1, options.shards)),
      shards_(std::make_unique<shard[]>(shard_count_)) {}

rate_limiter::~rate_limiter() = default;

rate_limiter::decision rate_limiter::try_acquire(std::string_view principal, time_point now) {
    if (!enabled()) return {};
    shard& s = shards_[std::hash<std::string_view>{}(principal) % shard_count_];
    std::lock_guard lock(s.mu);

    // Bounded memory: drop the buckets that have refilled; a new bucket starts full, so
    // dropping one changes no later decision.
    if (!s.last_sweep) {
        s.last_sweep = now;
    } else if (now - *s.last_sweep >= sweep_interval_) {
        s.last_sweep = now;
        std::erase_if(s.buckets, [&](const auto& entry) {
            const bucket& b = entry.second;
            return b.tokens + seconds_between(b.last, now) * rate_ >= burst_;
        });
    }

    auto it = s.buckets.find(principal);
    if (it == s.buckets.end()) {
        it = s.buckets.emplace(std::string(principal), bucket{burst_, now}).first;
    }
    bucket& b = it->second;
    if (now > b.last) {
        b.tokens = std::min(burst_, b.tokens + seconds_between(b.last, now) * rate_);
        b.last = now;
    }
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return {};
    }
    const double wait = std::ceil((1 - b.tokens) / rate_);
    const auto seconds = wait >= static_cast<double>(max_retry_after_seconds)
                             ? max_retry_after_seconds
                             : std::max<std::int64_t>(1, static_cast<std::int64_t>(wait));
    return {false, seconds};
}

std::size_t rate_limiter::bucket_count() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
        std::lock_guard lock(shards_[i].mu);
        n += shards_[i].buckets.size();
    }
    return n;
}

}  // namespace shopstream::adapters::http
