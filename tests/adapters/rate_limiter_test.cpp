// The per-principal token bucket of the HTTP API, on a clock the tests move.
#include "adapters/http/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace shopstream::adapters::http {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const rate_limiter::time_point t0 = clock_type::time_point{} + 1000h;

rate_limiter make(double rate, std::optional<double> burst = std::nullopt,
                  clock_type::duration sweep = 10s) {
    return rate_limiter(rate_limit_options{.rate = rate, .burst = burst, .sweep_interval = sweep});
}

TEST(rate_limiter, allows_the_burst_then_refuses) {
    auto limiter = make(1, 3);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.try_acquire("alice", t0).allowed) << i;
    const auto refused = limiter.try_acquire("alice", t0);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after_seconds, 1);
    EXPECT_FALSE(limiter.try_acquire("alice", t0 + 500ms).allowed);
}

TEST(rate_limiter, the_default_burst_is_twice_the_rate_and_at_least_one) {
    EXPECT_DOUBLE_EQ(make(5).burst(), 10);
    EXPECT_DOUBLE_EQ(make(0.2).burst(), 1);
    EXPECT_DOUBLE_EQ(make(5, 2).burst(), 2);
    auto limiter = make(5);
    int allowed = 0;
    while (limiter.try_acquire("bob", t0).allowed) ++allowed;
    EXPECT_EQ(allowed, 10);
}

TEST(rate_limiter, refills_at_the_rate_up_to_the_burst) {
    auto limiter = make(2, 4);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.try_acquire("carol", t0).allowed);
    ASSERT_FALSE(limiter.try_acquire("carol", t0).allowed);
    // Half a second at 2/s is one token.
    EXPECT_TRUE(limiter.try_acquire("carol", t0 + 500ms).allowed);
    EXPECT_FALSE(limiter.try_acquire("carol", t0 + 500ms).allowed);
    // An hour later the bucket holds the burst, not 7200 tokens.
    const auto later = t0 + 1h;
    int allowed = 0;
    while (limiter.try_acquire("carol", later).allowed) ++allowed;
    EXPECT_EQ(allowed, 4);
}

TEST(rate_limiter, retry_after_is_the_wait_for_one_token_rounded_up) {
    {
        auto limiter = make(0.1, 1);  // one token every 10 s
        ASSERT_TRUE(limiter.try_acquire("dave", t0).allowed);
        EXPECT_EQ(limiter.try_acquire("dave", t0).retry_after_seconds, 10);
        EXPECT_EQ(limiter.try_acquire("dave", t0 + 2500ms).retry_after_seconds, 8);  // 7.5 s left
        EXPECT_FALSE(limiter.try_acquire("dave", t0 + 9900ms).allowed);
        EXPECT_EQ(limiter.try_acquire("dave", t0 + 9900ms).retry_after_seconds, 1);
        EXPECT_TRUE(limiter.try_acquire("dave", t0 + 10s).allowed);
    }
    {
        auto limiter = make(100, 1);  // a token in 10 ms: still "1", never 0
        ASSERT_TRUE(limiter.try_acquire("erin", t0).allowed);
        const auto refused = limiter.try_acquire("erin", t0);
        EXPECT_FALSE(refused.allowed);
        EXPECT_EQ(refused.retry_after_seconds, 1);
    }
    {
        auto limiter = make(1e-9, 1);  // capped rather than overflowing
        ASSERT_TRUE(limiter.try_acquire("frank", t0).allowed);
        EXPECT_EQ(limiter.try_acquire("frank", t0).retry_after_seconds, rate_limiter::max_retry_after_seconds);
    }
}

TEST(rate_limiter, principals_have_buckets_of_their_own) {
    auto limiter = make(1, 2);
    ASSERT_TRUE(limiter.try_acquire("gina", t0).allowed);
    ASSERT_TRUE(limiter.try_acquire("gina", t0).allowed);
    ASSERT_FALSE(limiter.try_acquire("gina", t0).allowed);
    EXPECT_TRUE(limiter.try_acquire("hank", t0).allowed);
    EXPECT_TRUE(limiter.try_acquire("hank", t0).allowed);
    EXPECT_FALSE(limiter.try_acquire("hank", t0).allowed);
    EXPECT_TRUE(limiter.try_acquire("ivan", t0).allowed);
}

TEST(rate_limiter, rate_zero_never_refuses_and_keeps_nothing) {
    auto limiter = make(0);
    EXPECT_FALSE(limiter.enabled());
    for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(limiter.try_acquire("judy", t0).allowed);
    EXPECT_EQ(limiter.bucket_count(), 0U);
}

TEST(rate_limiter, a_clock_going_backwards_adds_no_tokens) {
    auto limiter = make(1, 1);
    ASSERT_TRUE(limiter.try_acquire("kate", t0 + 5s).allowed);
    EXPECT_FALSE(limiter.try_acquire("kate", t0).allowed);
    // ...and does not move the bucket's time back either.
    EXPECT_FALSE(limiter.try_acquire("kate", t0 + 5500ms).allowed);
    EXPECT_TRUE(limiter.try_acquire("kate", t0 + 6s).allowed);
}

TEST(rate_limiter, concurrent_acquires_never_exceed_burst_plus_rate_times_elapsed) {
    constexpr double rate = 2000;
    constexpr double burst = 50;
    auto limiter = make(rate, burst);
    constexpr int threads = 4;
    constexpr int attempts = 20'000;
    std::atomic<long> allowed{0};
    std::atomic<long> allowed_other{0};
    const auto start = clock_type::now();
    {
        std::vector<std::jthread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                for (int i = 0; i < attempts; ++i) {
                    if (limiter.try_acquire("shared", clock_type::now()).allowed) ++allowed;
                    // Other principals in the same shards, to contend on the locks.
                    if (limiter.try_acquire("own-" + std::to_string(t), clock_type::now()).allowed) ++allowed_other;
                }
            });
        }
    }
    const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    const double bound = burst + rate * elapsed;
    EXPECT_LE(static_cast<double>(allowed.load()), bound + 1e-6) << "elapsed " << elapsed << " s";
    EXPECT_GE(allowed.load(), static_cast<long>(burst));  // at least the burst got through
    EXPECT_LE(static_cast<double>(allowed_other.load()), threads * bound + 1e-6);
}

TEST(rate_limiter, sweeps_drop_full_buckets_and_keep_the_rest) {
    auto limiter = make(0.1, 2, 10s);  // a token every 10 s
    // Many principals, each once: 1 token left, full again 10 s later.
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.try_acquire("p" + std::to_string(i), t0).allowed);
    // One principal drains its bucket.
    ASSERT_TRUE(limiter.try_acquire("drained", t0).allowed);
    ASSERT_TRUE(limiter.try_acquire("drained", t0).allowed);
    ASSERT_FALSE(limiter.try_acquire("drained", t0).allowed);
    EXPECT_EQ(limiter.bucket_count(), 1001U);

    // No sweep before the interval has passed.
    (void)limiter.try_acquire("early", t0 + 9s);
    EXPECT_EQ(limiter.bucket_count(), 1002U);

    // 15 s in, a shard sweeps on its next acquire; fresh principals reach every shard.
    const auto later = t0 + 15s;
    constexpr int sweepers = 200;
    for (int i = 0; i < sweepers; ++i) (void)limiter.try_acquire("sweeper" + std::to_string(i), later);
    // The full ones went; "drained" and "early" (1.6 tokens) stayed.
    EXPECT_LE(limiter.bucket_count(), sweepers + 2U);

    // The drained bucket was not reset to full: it holds 1.5 tokens, not 2.
    EXPECT_TRUE(limiter.try_acquire("drained", later).allowed);
    const auto refused = limiter.try_acquire("drained", later);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after_seconds, 5);
}

TEST(rate_limiter, memory_stays_bounded_under_a_stream_of_new_principals) {
    auto limiter = make(10, 20, 1s);
    for (int second = 0; second < 60; ++second) {
        for (int i = 0; i < 500; ++i) {
            (void)limiter.try_acquire("p" + std::to_string(second) + "-" + std::to_string(i),
                                      t0 + std::chrono::seconds(second));
        }
    }
    // A bucket refills (19 → 20 tokens) in 0.1 s; each sweep drops the earlier seconds'.
    EXPECT_LE(limiter.bucket_count(), 2 * 500U);
}

}  // namespace
}  // namespace shopstream::adapters::http
