#include "adapters/http/idempotency_store.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "domain/common.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using shopstream::adapters::http::errc;
using shopstream::adapters::http::idempotency_store;
using shopstream::adapters::http::idempotency_store_options;
using shopstream::adapters::http::request_digest;
using shopstream::adapters::http::stored_answer;
using shopstream::testing::temp_dir;
using namespace std::chrono_literals;

constexpr std::int64_t t0 = 1'800'000'000'000;  // ms

stored_answer answer(std::string digest, int status, std::string body, std::int64_t at = t0) {
    stored_answer a;
    a.request_digest = std::move(digest);
    a.status = status;
    a.content_type = "application/json";
    a.headers = {{"ETag", "\"1\""}, {"X-Position", "3:17"}, {"Location", "/v1/orders/o-1"}};
    a.body = std::move(body);
    a.recorded_at_ms = at;
    return a;
}

std::unique_ptr<idempotency_store> open_store(const temp_dir& dir, idempotency_store_options o = {}) {
    auto s = idempotency_store::open(dir.path() / "idem", o);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
}

TEST(request_digest, the_same_json_value_is_the_same_request_whatever_its_layout) {
    const auto a = request_digest("POST", "/v1/orders", R"({"lines":[{"sku":"A","qty":1}],"currency":"EUR"})");
    const auto b = request_digest("POST", "/v1/orders", " {\n \"currency\" : \"EUR\", \"lines\":[{\"qty\":1,\"sku\":\"A\"}]}");
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.size(), 64U);
}

TEST(request_digest, a_different_value_route_or_method_is_a_different_request) {
    const auto base = request_digest("POST", "/v1/orders", R"({"qty":1})");
    EXPECT_NE(base, request_digest("POST", "/v1/orders", R"({"qty":2})"));
    EXPECT_NE(base, request_digest("POST", "/v1/orders/o-1/cancel", R"({"qty":1})"));
    EXPECT_NE(base, request_digest("PUT", "/v1/orders", R"({"qty":1})"));
    // The array order is part of the value.
    EXPECT_NE(request_digest("POST", "/r", "[1,2]"), request_digest("POST", "/r", "[2,1]"));
    // Not JSON: compared byte for byte, and never equal to a JSON body.
    EXPECT_EQ(request_digest("POST", "/r", "{oops"), request_digest("POST", "/r", "{oops"));
    EXPECT_NE(request_digest("POST", "/r", "{oops"), request_digest("POST", "/r", "{oops "));
    EXPECT_NE(request_digest("POST", "/r", ""), request_digest("POST", "/r", "{}"));
}

TEST(idempotency_store, a_recorded_answer_comes_back_byte_for_byte_and_survives_reopening) {
    temp_dir dir;
    const auto first = answer("d1", 201, R"({"orderId":"o-1","version":1,"position":"3:17"})");
    {
        auto store = open_store(dir);
        ASSERT_TRUE(store);
        auto none = store->find("idem:p:k1", t0);
        ASSERT_TRUE(none.has_value());
        EXPECT_FALSE(none->has_value());
        auto recorded = store->record("idem:p:k1", first);
        ASSERT_TRUE(recorded.has_value()) << recorded.error();
        EXPECT_EQ(recorded->body, first.body);
    }
    auto store = open_store(dir);
    ASSERT_TRUE(store);
    auto found = store->find("idem:p:k1", t0 + 1000);
    ASSERT_TRUE(found.has_value()) << found.error();
    ASSERT_TRUE(found->has_value());
    const auto& a = **found;
    EXPECT_EQ(a.request_digest, "d1");
    EXPECT_EQ(a.status, 201);
    EXPECT_EQ(a.content_type, "application/json");
    EXPECT_EQ(a.headers, first.headers);
    EXPECT_EQ(a.body, first.body);
    EXPECT_EQ(a.recorded_at_ms, t0);
}

TEST(idempotency_store, the_first_answer_wins_and_a_second_record_returns_it) {
    temp_dir dir;
    auto store = open_store(dir);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->record("k", answer("d1", 201, "first")).has_value());
    auto second = store->record("k", answer("d2", 200, "second", t0 + 5));
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second->body, "first");
    EXPECT_EQ(second->request_digest, "d1");
    auto found = store->find("k", t0 + 10);
    ASSERT_TRUE(found.has_value() && found->has_value());
    EXPECT_EQ((**found).body, "first");
    EXPECT_EQ(*store->size(), 1U);
}

TEST(idempotency_store, answers_expire_after_the_retention_and_are_swept_as_new_ones_arrive) {
    temp_dir dir;
    auto store = open_store(dir, {.retention = 1h, .sweep_per_write = 2});
    ASSERT_TRUE(store);
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(store->record("old-" + std::to_string(i), answer("d", 201, "b", t0 + i)).has_value());
    }
    // Just inside the retention: still there.
    auto inside = store->find("old-0", t0 + 3'600'000);
    ASSERT_TRUE(inside.has_value() && inside->has_value());
    // Past it: absent, though not swept yet.
    auto outside = store->find("old-0", t0 + 3'600'001);
    ASSERT_TRUE(outside.has_value());
    EXPECT_FALSE(outside->has_value());
    EXPECT_EQ(*store->size(), 5U);

    // A new write two hours later sweeps two expired answers.
    ASSERT_TRUE(store->record("new", answer("d", 201, "b", t0 + 7'200'000)).has_value());
    EXPECT_EQ(*store->size(), 4U);  // 5 old - 2 swept + 1 new
    auto swept = store->sweep(t0 + 7'200'000);
    ASSERT_TRUE(swept.has_value());
    EXPECT_EQ(*swept, 3U);
    EXPECT_EQ(*store->size(), 1U);
    auto kept = store->find("new", t0 + 7'200'000);
    ASSERT_TRUE(kept.has_value() && kept->has_value());
}

TEST(idempotency_store, an_expired_key_may_be_used_again_for_a_new_answer) {
    temp_dir dir;
    auto store = open_store(dir, {.retention = 1h});
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->record("k", answer("d1", 201, "first", t0)).has_value());
    auto again = store->record("k", answer("d2", 200, "second", t0 + 7'200'000));
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->body, "second");
    // The old expiry entry went with it: a sweep far in the future removes exactly one.
    auto swept = store->sweep(t0 + 100'000'000);
    ASSERT_TRUE(swept.has_value());
    EXPECT_EQ(*swept, 1U);
    EXPECT_EQ(*store->size(), 0U);
}

TEST(idempotency_store, concurrent_writers_of_one_key_all_get_the_single_first_answer) {
    temp_dir dir;
    auto store = open_store(dir);
    ASSERT_TRUE(store);
    std::vector<std::thread> threads;
    std::vector<std::string> seen(8);
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            auto r = store->record("k", answer("d" + std::to_string(i), 201, "body-" + std::to_string(i)));
            seen[static_cast<std::size_t>(i)] = r ? r->body : "error: " + r.error().message;
        });
    }
    for (auto& t : threads) t.join();
    const std::set<std::string> distinct(seen.begin(), seen.end());
    ASSERT_EQ(distinct.size(), 1U);
    EXPECT_TRUE(distinct.begin()->starts_with("body-"));
}

TEST(idempotency_store, an_unusable_directory_is_refused_with_its_path) {
    temp_dir dir;
    const auto file = dir.path() / "not-a-dir";
    { std::FILE* f = std::fopen(file.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
    auto s = idempotency_store::open(file / "idem");
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, errc::io) << s.error();  // ENOTDIR under a file
    EXPECT_NE(s.error().message.find("not-a-dir"), std::string::npos) << s.error().message;
}

TEST(idempotency_store, a_directory_it_may_not_write_is_permission_denied) {
    if (::geteuid() == 0) GTEST_SKIP() << "root writes anywhere";
    temp_dir dir;
    const auto locked = dir.path() / "locked";
    std::filesystem::create_directory(locked);
    std::filesystem::permissions(locked, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    auto s = idempotency_store::open(locked / "idem");
    std::filesystem::permissions(locked, std::filesystem::perms::owner_all);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, errc::permission_denied) << s.error();
    EXPECT_NE(s.error().message.find(locked.string()), std::string::npos) << s.error();
}

TEST(idempotency_store, a_directory_already_open_here_is_already_open) {
    temp_dir dir;
    auto first = idempotency_store::open(dir.path() / "idem");
    ASSERT_TRUE(first.has_value()) << first.error();
    auto second = idempotency_store::open(dir.path() / "idem");
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, errc::already_open) << second.error();
}

}  // namespace

namespace {

using shopstream::adapters::http::idempotent_command_id;
using shopstream::adapters::http::order_id_of;
using shopstream::adapters::http::sha256_hex;

TEST(idempotency_scope, a_key_is_scoped_by_the_sha256_of_its_principal) {
    // printf 'alice' | sha256sum: a fixed vector, so the scope is SHA-256 and stays
    // the same across builds and restarts (a retry after a restart reaches the same id).
    EXPECT_EQ(sha256_hex({"alice"}), "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90");
    EXPECT_EQ(sha256_hex({"al", "", "ice"}), sha256_hex({"alice"}));
    EXPECT_EQ(idempotent_command_id("alice", "k-1"),
              "idem:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90:k-1");
    EXPECT_NE(idempotent_command_id("alice", "k-1"), idempotent_command_id("bob", "k-1"));
    EXPECT_NE(idempotent_command_id("alice", "k-1"), idempotent_command_id("alice", "k-2"));
    // printf 'order:idem:<the digest above>:k-1' | sha256sum, first 32 hex digits.
    EXPECT_EQ(order_id_of(idempotent_command_id("alice", "k-1")), "o-e966cf368930ebacf97244c4fbfd8c24");
    EXPECT_NE(order_id_of(idempotent_command_id("alice", "k-1")), order_id_of(idempotent_command_id("bob", "k-1")));
}

TEST(idempotency_scope, the_longest_key_keeps_ids_within_their_limits) {
    const std::string key(100, 'k');  // the longest Idempotency-Key the server takes
    const auto id = idempotent_command_id(std::string(128, 'p'), key);
    EXPECT_LE(id.size(), 255U);  // command ids are 1-255 bytes (command_handler, state_store)
    EXPECT_TRUE(shopstream::domain::is_valid_id(order_id_of(id)));
}

}  // namespace
