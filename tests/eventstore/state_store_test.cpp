// The LMDB state store: round trips, batch atomicity and isolation, reopening, key order,
// and every way the directory can be wrong (another format, corrupt records, a full map).
// Each test gets a fresh directory under /tmp. Tests that damage the store write to it
// with raw LMDB, using the layout documented in eventstore/state_store.cpp.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <lmdb.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/state_store.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::eventstore {
namespace {

namespace fs = std::filesystem;

using shopstream::testing::temp_dir;

std::string aggregate_key(context ctx, std::string_view id) {
    std::string key;
    key.push_back(static_cast<char>(ctx));
    key.push_back(static_cast<char>(static_cast<std::uint8_t>(id.size())));
    key.append(id);
    return key;
}

std::string commit_key(context ctx, std::string_view id, std::uint64_t first_version) {
    std::string key = aggregate_key(ctx, id);
    for (int shift = 56; shift >= 0; shift -= 8) {
        key.push_back(static_cast<char>(static_cast<std::uint8_t>(first_version >> shift)));
    }
    return key;
}

std::string checkpoint_key(context ctx, std::int32_t partition) {
    std::string key(1, static_cast<char>(ctx));
    const auto p = static_cast<std::uint32_t>(partition);
    for (int shift = 24; shift >= 0; shift -= 8) {
        key.push_back(static_cast<char>(static_cast<std::uint8_t>(p >> shift)));
    }
    return key;
}

// Raw LMDB access to a closed store, to plant what the store itself never writes.
class raw_env {
public:
    explicit raw_env(const fs::path& dir) {
        check(mdb_env_create(&env_));
        check(mdb_env_set_maxdbs(env_, 8));
        check(mdb_env_open(env_, dir.c_str(), 0, 0644));
    }
    raw_env(const raw_env&) = delete;
    raw_env& operator=(const raw_env&) = delete;
    ~raw_env() { mdb_env_close(env_); }

    void put(const char* db, std::string_view key, std::string_view value) {
        MDB_txn* txn = nullptr;
        check(mdb_txn_begin(env_, nullptr, 0, &txn));
        MDB_dbi dbi = 0;
        check(mdb_dbi_open(txn, db, 0, &dbi));
        MDB_val k{key.size(), const_cast<char*>(key.data())};
        MDB_val v{value.size(), const_cast<char*>(value.data())};
        check(mdb_put(txn, dbi, &k, &v, 0));
        check(mdb_txn_commit(txn));
    }

    std::string get(const char* db, std::string_view key) {
        MDB_txn* txn = nullptr;
        check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn));
        MDB_dbi dbi = 0;
        check(mdb_dbi_open(txn, db, 0, &dbi));
        MDB_val k{key.size(), const_cast<char*>(key.data())};
        MDB_val v;
        check(mdb_get(txn, dbi, &k, &v));
        std::string out(static_cast<const char*>(v.mv_data), v.mv_size);
        mdb_txn_abort(txn);
        return out;
    }

private:
    static void check(int rc) {
        if (rc != 0) throw std::runtime_error(std::string("raw lmdb: ") + mdb_strerror(rc));
    }
    MDB_env* env_ = nullptr;
};

stored_aggregate sample(std::uint64_t version, std::uint8_t seed, std::size_t commands = 3) {
    stored_aggregate a;
    a.head.version = version;
    a.partition = partition_id(7 + seed);
    for (std::size_t i = 0; i < commands; ++i) {
        a.head.recent_commands.push_back(applied_command{
            "cmd-" + std::to_string(seed) + "-" + std::to_string(i), version - commands + i + 1,
            position{a.partition, log_offset((std::int64_t{1} << 40) + static_cast<std::int64_t>(i))}});
    }
    a.snapshot = {0x00, seed, 0xff, 0x10, 0x00, static_cast<std::uint8_t>(version)};
    return a;
}

class state_store_test : public ::testing::Test {
protected:
    result<std::unique_ptr<state_store>, store_error> open(state_store::options opts = {}) {
        return state_store::open(dir_.path(), opts);
    }

    std::unique_ptr<state_store> open_ok(state_store::options opts = {}) {
        auto s = open(opts);
        if (!s) ADD_FAILURE() << s.error().message;
        return s ? std::move(*s) : nullptr;
    }

    temp_dir dir_;
};

#define ASSERT_OK(expr)                                                 \
    do {                                                                \
        const auto& ok_ = (expr);                                       \
        ASSERT_TRUE(ok_.has_value()) << #expr << ": " << ok_.error().message; \
    } while (false)

// ---- round trips ---------------------------------------------------------------------

using state_store_basics = state_store_test;

TEST_F(state_store_basics, round_trips_aggregates_of_every_context_kept_apart) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    const std::string nul_id("a\0b", 3);
    const std::string longest(255, 'z');
    {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        for (context ctx : all_contexts) {
            const auto seed = static_cast<std::uint8_t>(ctx);
            ASSERT_OK(batch->put(ctx, "shared-id", sample(10 + seed, seed)));
        }
        ASSERT_OK(batch->put(context::orders, nul_id, sample(64, 9, recent_command_window)));
        ASSERT_OK(batch->put(context::reviews, longest, stored_aggregate{}));
        ASSERT_OK(batch->commit());
    }
    for (context ctx : all_contexts) {
        const auto seed = static_cast<std::uint8_t>(ctx);
        auto got = store->load(ctx, "shared-id");
        ASSERT_OK(got);
        ASSERT_TRUE(got->has_value()) << name_of(ctx);
        EXPECT_EQ(**got, sample(10 + seed, seed)) << name_of(ctx);
    }
    auto nul = store->load(context::orders, nul_id);
    ASSERT_OK(nul);
    ASSERT_TRUE(nul->has_value());
    EXPECT_EQ(**nul, sample(64, 9, recent_command_window));
    // "a\0b" is not "a": the id is bytes, not a C string.
    auto truncated = store->load(context::orders, "a");
    ASSERT_OK(truncated);
    EXPECT_FALSE(truncated->has_value());

    auto empty = store->load(context::reviews, longest);
    ASSERT_OK(empty);
    ASSERT_TRUE(empty->has_value());
    EXPECT_EQ(**empty, stored_aggregate{});
    auto elsewhere = store->load(context::orders, longest);
    ASSERT_OK(elsewhere);
    EXPECT_FALSE(elsewhere->has_value());
}

TEST_F(state_store_basics, a_put_replaces_the_aggregate) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    for (std::uint64_t v : {3u, 5u, 4u}) {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        ASSERT_OK(batch->put(context::payments, "pay-1", sample(v, 1)));
        ASSERT_OK(batch->commit());
    }
    auto got = store->load(context::payments, "pay-1");
    ASSERT_OK(got);
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, sample(4, 1));
}

TEST_F(state_store_basics, a_batch_sees_its_own_writes_before_commit_and_readers_do_not) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto batch = store->begin_write();
    ASSERT_OK(batch);
    auto before = batch->load(context::orders, "o-1");
    ASSERT_OK(before);
    EXPECT_FALSE(before->has_value());

    ASSERT_OK(batch->put(context::orders, "o-1", sample(1, 1)));
    ASSERT_OK(batch->put(context::orders, "o-1", sample(2, 1)));
    auto own = batch->load(context::orders, "o-1");
    ASSERT_OK(own);
    ASSERT_TRUE(own->has_value());
    EXPECT_EQ(**own, sample(2, 1));

    auto outside = store->load(context::orders, "o-1");
    ASSERT_OK(outside);
    EXPECT_FALSE(outside->has_value()) << "a reader saw an uncommitted write";

    ASSERT_OK(batch->commit());
    auto after = store->load(context::orders, "o-1");
    ASSERT_OK(after);
    ASSERT_TRUE(after->has_value());
    EXPECT_EQ(**after, sample(2, 1));
}

TEST_F(state_store_basics, a_dropped_batch_leaves_nothing) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        ASSERT_OK(batch->put(context::reviews, "r-1", sample(1, 2)));
        ASSERT_OK(batch->add_commit_location(context::reviews, "r-1",
                                             commit_location{1, 1, position{partition_id(3), log_offset(40)}}));
        ASSERT_OK(batch->set_checkpoint(context::reviews, partition_id(3), log_offset(41)));
        ASSERT_OK(batch->set_log_identity("log-A"));
        // destroyed uncommitted
    }
    auto check_empty = [](const state_store& s) {
        auto agg = s.load(context::reviews, "r-1");
        ASSERT_OK(agg);
        EXPECT_FALSE(agg->has_value());
        auto commits = s.commit_locations(context::reviews, "r-1");
        ASSERT_OK(commits);
        EXPECT_TRUE(commits->empty());
        auto cps = s.checkpoints(context::reviews);
        ASSERT_OK(cps);
        EXPECT_TRUE(cps->empty());
        auto id = s.log_identity();
        ASSERT_OK(id);
        EXPECT_FALSE(id->has_value());
    };
    check_empty(*store);

    // The writer lock went with it: the same thread can write again.
    auto next = store->begin_write();
    ASSERT_OK(next);
    ASSERT_OK(next->set_checkpoint(context::orders, partition_id(0), log_offset(1)));
    ASSERT_OK(next->commit());

    store.reset();
    store = open_ok();
    ASSERT_TRUE(store);
    check_empty(*store);
}

TEST_F(state_store_basics, a_committed_batch_survives_reopening) {
    for (auto durability : {state_store::durability::synced, state_store::durability::relaxed}) {
        SCOPED_TRACE(static_cast<int>(durability));
        temp_dir dir;
        const state_store::options opts{std::uint64_t{64} << 20, durability};
        {
            auto store = state_store::open(dir.path() / "nested" / "store", opts);
            ASSERT_OK(store);
            auto batch = (*store)->begin_write();
            ASSERT_OK(batch);
            ASSERT_OK(batch->set_log_identity("cluster-1/log-7"));
            for (context ctx : all_contexts) {
                const auto seed = static_cast<std::uint8_t>(ctx);
                ASSERT_OK(batch->put(ctx, "agg", sample(5, seed)));
                ASSERT_OK(batch->add_commit_location(ctx, "agg",
                                                     commit_location{1, 2, position{partition_id(seed), log_offset(10)}}));
                ASSERT_OK(batch->add_commit_location(ctx, "agg",
                                                     commit_location{3, 3, position{partition_id(seed), log_offset(99)}}));
                ASSERT_OK(batch->set_checkpoint(ctx, partition_id(seed), log_offset(100 + seed)));
            }
            ASSERT_OK(batch->commit());
        }
        auto store = state_store::open(dir.path() / "nested" / "store", opts);
        ASSERT_OK(store);
        EXPECT_EQ((*store)->directory(), dir.path() / "nested" / "store");
        auto id = (*store)->log_identity();
        ASSERT_OK(id);
        EXPECT_EQ(*id, std::optional<std::string>("cluster-1/log-7"));
        for (context ctx : all_contexts) {
            const auto seed = static_cast<std::uint8_t>(ctx);
            auto agg = (*store)->load(ctx, "agg");
            ASSERT_OK(agg);
            ASSERT_TRUE(agg->has_value());
            EXPECT_EQ(**agg, sample(5, seed));
            auto commits = (*store)->commit_locations(ctx, "agg");
            ASSERT_OK(commits);
            EXPECT_EQ(*commits, (std::vector<commit_location>{{1, 2, position{partition_id(seed), log_offset(10)}},
                                                              {3, 3, position{partition_id(seed), log_offset(99)}}}));
            auto cps = (*store)->checkpoints(ctx);
            ASSERT_OK(cps);
            EXPECT_EQ(*cps, (std::map<partition_id, log_offset>{{partition_id(seed), log_offset(100 + seed)}}));
        }
    }
}

TEST_F(state_store_basics, checkpoints_are_kept_per_context_and_partition) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    const std::map<std::int32_t, std::int64_t> orders{
        {0, 0},
        {1, 1},
        {15, std::int64_t{1} << 40},
        {255, 256},
        {256, 255},
        {70000, std::numeric_limits<std::int64_t>::max()},
        {std::numeric_limits<std::int32_t>::max(), 12}};
    {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        for (auto [p, o] : orders) ASSERT_OK(batch->set_checkpoint(context::orders, partition_id(p), log_offset(o / 2 + 1)));
        ASSERT_OK(batch->set_checkpoint(context::reviews, partition_id(1), log_offset(5)));
        ASSERT_OK(batch->commit());
    }
    {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        for (auto [p, o] : orders) ASSERT_OK(batch->set_checkpoint(context::orders, partition_id(p), log_offset(o)));
        ASSERT_OK(batch->commit());
    }
    auto got = store->checkpoints(context::orders);
    ASSERT_OK(got);
    std::map<partition_id, log_offset> expected;
    for (auto [p, o] : orders) expected.emplace(partition_id(p), log_offset(o));
    EXPECT_EQ(*got, expected);
    auto none = store->checkpoints(context::payments);
    ASSERT_OK(none);
    EXPECT_TRUE(none->empty());
    auto reviews = store->checkpoints(context::reviews);
    ASSERT_OK(reviews);
    EXPECT_EQ(*reviews, (std::map<partition_id, log_offset>{{partition_id(1), log_offset(5)}}));

    auto batch = store->begin_write();
    ASSERT_OK(batch);
    EXPECT_FALSE(batch->set_checkpoint(context::orders, partition_id(-1), log_offset(0)));
    EXPECT_FALSE(batch->set_checkpoint(context::orders, partition_id(0), log_offset(-1)));
}

TEST_F(state_store_basics, a_commit_keeps_its_bytes_and_headers_beside_its_location) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    const stored_commit first{commit_location{1, 2, position{partition_id(3), log_offset(40)}},
                              commit_headers{1'700'000'000'123, "place_order", "corr-\xc3\xa9", "cause", "customer:c",
                                             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                              std::vector<std::uint8_t>{0, 1, 2, 255, 7}};
    const stored_commit second{commit_location{3, 1, position{partition_id(3), log_offset(41)}}, commit_headers{}, std::vector<std::uint8_t>(300, 9)};
    {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        ASSERT_OK(batch->add_commit(context::orders, "o", second));
        ASSERT_OK(batch->add_commit(context::orders, "o", first));
        ASSERT_OK(batch->commit());
    }
    auto got = store->commits(context::orders, "o");
    ASSERT_OK(got);
    ASSERT_EQ(got->size(), 2U);
    EXPECT_EQ((*got)[0], first);
    EXPECT_EQ((*got)[1], second);
    auto up_to_2 = store->commits(context::orders, "o", 2);
    ASSERT_OK(up_to_2);
    ASSERT_EQ(up_to_2->size(), 1U);
    EXPECT_EQ((*up_to_2)[0], first);
    auto locations = store->commit_locations(context::orders, "o");
    ASSERT_OK(locations);
    EXPECT_EQ(*locations, (std::vector<commit_location>{first.location, second.location}));
}

// visit_commits: what commits() returns, handed over in place, each record at an 8-byte
// boundary (so the commit decodes without a copy), and a visitor may stop the scan.
TEST_F(state_store_basics, visit_commits_hands_each_commit_over_in_place_and_can_stop) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        // Records of 1..17 bytes and headers of varying lengths put the record at every
        // offset a builder without forced alignment would.
        for (std::uint64_t v = 1; v <= 17; ++v) {
            ASSERT_OK(batch->add_commit(context::reviews, "r",
                                        stored_commit{commit_location{v, 1, position{partition_id(1), log_offset(static_cast<std::int64_t>(v))}},
                                                      commit_headers{static_cast<std::int64_t>(v), std::string(v, 't'),
                                                                     "corr", "", std::string(v % 5, 'a'), ""},
                                                      std::vector<std::uint8_t>(v, static_cast<std::uint8_t>(v))}));
        }
        ASSERT_OK(batch->commit());
    }
    auto owned = store->commits(context::reviews, "r");
    ASSERT_OK(owned);
    ASSERT_EQ(owned->size(), 17U);
    std::vector<stored_commit> seen;
    ASSERT_OK(store->visit_commits(context::reviews, "r", std::numeric_limits<std::uint64_t>::max(),
                                   [&](const stored_commit_view& c) {
                                       EXPECT_EQ(reinterpret_cast<std::uintptr_t>(c.record.data()) % 8, 0U)
                                           << "version " << c.location.first_version;
                                       seen.push_back({c.location, c.headers.owned(), {c.record.begin(), c.record.end()}});
                                       return true;
                                   }));
    EXPECT_EQ(seen, *owned);

    std::vector<std::uint64_t> until_stop;
    ASSERT_OK(store->visit_commits(context::reviews, "r", 10, [&](const stored_commit_view& c) {
        until_stop.push_back(c.location.first_version);
        return c.location.first_version < 3;
    }));
    EXPECT_EQ(until_stop, (std::vector<std::uint64_t>{1, 2, 3}));
    int none = 0;
    ASSERT_OK(store->visit_commits(context::reviews, "nobody", 10, [&](const stored_commit_view&) { return ++none > 0; }));
    EXPECT_EQ(none, 0);
    auto bad_id = store->visit_commits(context::reviews, "", 10, [](const stored_commit_view&) { return true; });
    EXPECT_FALSE(bad_id);
}

TEST_F(state_store_basics, commit_locations_come_in_version_order_up_to_a_version) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    // 300 commits of 3 events: versions 1..900, so first versions cross byte boundaries
    // (a little-endian key would sort 257 before 2). Plus one far beyond 2^32.
    std::vector<commit_location> all;
    for (std::uint64_t k = 0; k < 300; ++k) {
        all.push_back(commit_location{1 + 3 * k, 3,
                                      position{partition_id(static_cast<std::int32_t>(k % 16)),
                                               log_offset(static_cast<std::int64_t>(1000 + k))}});
    }
    const std::uint64_t far = (std::uint64_t{1} << 40) + 1;
    all.push_back(commit_location{far, 1, position{partition_id(2), log_offset(std::int64_t{1} << 50)}});
    std::vector<commit_location> shuffled = all;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
    {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        for (const auto& c : shuffled) {
            ASSERT_OK(batch->add_commit_location(context::orders, "o", c));
        }
        // Neighbours that a sloppy prefix scan would mix in.
        ASSERT_OK(batch->add_commit_location(context::orders, "o2",
                                             commit_location{1, 1, position{partition_id(0), log_offset(1)}}));
        ASSERT_OK(batch->add_commit_location(context::orders, std::string_view("o\0", 2),
                                             commit_location{2, 1, position{partition_id(0), log_offset(2)}}));
        ASSERT_OK(batch->add_commit_location(context::payments, "o",
                                             commit_location{1, 1, position{partition_id(0), log_offset(3)}}));
        ASSERT_OK(batch->commit());
    }
    auto prefix = [&](std::size_t n) {
        return std::vector<commit_location>(all.begin(),
                                            all.begin() + static_cast<std::ptrdiff_t>(n));
    };
    auto up_to = [&](std::uint64_t v) {
        auto got = store->commit_locations(context::orders, "o", v);
        EXPECT_TRUE(got) << got.error().message;
        return got ? *got : std::vector<commit_location>{};
    };
    auto everything = store->commit_locations(context::orders, "o");
    ASSERT_OK(everything);
    EXPECT_EQ(*everything, all);
    EXPECT_EQ(up_to(0), prefix(0));
    EXPECT_EQ(up_to(1), prefix(1));
    EXPECT_EQ(up_to(2), prefix(1));    // inside the first commit
    EXPECT_EQ(up_to(3), prefix(1));
    EXPECT_EQ(up_to(4), prefix(2));
    EXPECT_EQ(up_to(256), prefix(86));  // 256 = 1 + 3*85: the 86th commit's first version
    EXPECT_EQ(up_to(257), prefix(86));
    EXPECT_EQ(up_to(770), prefix(257));
    EXPECT_EQ(up_to(900), prefix(300));
    EXPECT_EQ(up_to(far - 1), prefix(300));
    EXPECT_EQ(up_to(far), all);

    auto neighbour = store->commit_locations(context::orders, "o2");
    ASSERT_OK(neighbour);
    EXPECT_EQ(*neighbour, (std::vector<commit_location>{{1, 1, position{partition_id(0), log_offset(1)}}}));
    auto other_ctx = store->commit_locations(context::payments, "o");
    ASSERT_OK(other_ctx);
    EXPECT_EQ(*other_ctx, (std::vector<commit_location>{{1, 1, position{partition_id(0), log_offset(3)}}}));
    auto none = store->commit_locations(context::reviews, "o");
    ASSERT_OK(none);
    EXPECT_TRUE(none->empty());
}

TEST_F(state_store_basics, log_identity_is_unset_then_set_then_kept) {
    {
        auto store = open_ok();
        ASSERT_TRUE(store);
        auto unset = store->log_identity();
        ASSERT_OK(unset);
        EXPECT_FALSE(unset->has_value());
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        ASSERT_OK(batch->set_log_identity("7f3c-log"));
        ASSERT_OK(batch->commit());
        auto set = store->log_identity();
        ASSERT_OK(set);
        EXPECT_EQ(*set, std::optional<std::string>("7f3c-log"));
    }
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto reread = store->log_identity();
    ASSERT_OK(reread);
    EXPECT_EQ(*reread, std::optional<std::string>("7f3c-log"));
}

// ---- a store that cannot be used as it is ---------------------------------------------

using state_store_refusal = state_store_test;

TEST_F(state_store_refusal, a_store_of_another_format_is_refused_with_the_fix) {
    open_ok().reset();
    {
        raw_env raw(dir_.path());
        EXPECT_EQ(raw.get("meta", "format"), std::string("\0\0\0\2", 4));
    }
    // A healthy store reopens: the refusal below is about the format, nothing else.
    open_ok().reset();
    // Format 1 (commits kept as locations only) is refused too: a rebuild from the log
    // fills in the commits' bytes and headers that format 2 serves histories from.
    for (const std::string& format : {std::string("\0\0\0\1", 4), std::string("\0\0\0\3", 4), std::string("\1", 1),
                                      std::string("\1\0\0\0", 4)}) {
        {
            raw_env raw(dir_.path());
            raw.put("meta", "format", format);
        }
        auto store = open();
        ASSERT_FALSE(store) << "a store with format bytes of size " << format.size() << " opened";
        EXPECT_EQ(store.error().code, store_errc::wrong_format) << store.error();
        EXPECT_NE(store.error().message.find("Delete the directory"), std::string::npos)
            << store.error().message;
        EXPECT_NE(store.error().message.find(dir_.path().string()), std::string::npos)
            << store.error().message;
    }
    auto store = open();
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("format 16777216"), std::string::npos)
        << store.error().message;
}

TEST_F(state_store_refusal, refusals_carry_a_code_to_branch_on) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto too_long = store->load(context::reviews, std::string(1000, 'x'));
    ASSERT_FALSE(too_long);
    EXPECT_EQ(too_long.error().code, store_errc::invalid_argument) << too_long.error();
    auto batch = store->begin_write();
    ASSERT_OK(batch);
    auto nested = store->begin_write();  // would wait for itself
    ASSERT_FALSE(nested);
    EXPECT_EQ(nested.error().code, store_errc::misuse) << nested.error();
    auto negative = batch->set_checkpoint(context::reviews, partition_id(-1), log_offset(0));
    ASSERT_FALSE(negative);
    EXPECT_EQ(negative.error().code, store_errc::invalid_argument) << negative.error();
    ASSERT_OK(batch->commit());
    auto after = batch->put(context::reviews, "r-1", sample(1, 1));
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code, store_errc::misuse) << after.error();
    EXPECT_STREQ(std::error_code(store_errc::misuse).category().name(), "shopstream.state_store");
}

TEST_F(state_store_refusal, a_corrupt_aggregate_record_is_a_store_error) {
    {
        auto store = open_ok();
        ASSERT_TRUE(store);
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        ASSERT_OK(batch->put(context::orders, "o-1", sample(9, 4)));
        ASSERT_OK(batch->commit());
    }
    const std::string key = aggregate_key(context::orders, "o-1");
    std::string valid;
    {
        raw_env raw(dir_.path());
        valid = raw.get("aggregates", key);
    }
    ASSERT_GT(valid.size(), 16u);

    std::vector<std::string> garbage = {
        "",
        "xyz",
        std::string(64, '\xff'),
        valid.substr(0, valid.size() - 1),                   // truncated
        valid + std::string(8, '\0'),                        // padded
        valid.substr(0, 8) + "XXXX" + valid.substr(12),      // wrong file identifier
        valid.substr(0, 4) + std::string("\xf0\xff\xff\x7f", 4) + valid.substr(8),  // root offset
    };
    for (const auto& bad : garbage) {
        {
            raw_env raw(dir_.path());
            raw.put("aggregates", key, bad);
        }
        auto store = open_ok();
        ASSERT_TRUE(store);
        auto got = store->load(context::orders, "o-1");
        ASSERT_FALSE(got) << "a record of " << bad.size() << " bytes loaded";
        EXPECT_NE(got.error().message.find("state store corrupt"), std::string::npos)
            << got.error().message;
        EXPECT_NE(got.error().message.find("o-1"), std::string::npos) << got.error().message;
        EXPECT_NE(got.error().message.find("deleting " + dir_.path().string()), std::string::npos)
            << got.error().message;
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        EXPECT_FALSE(batch->load(context::orders, "o-1"));
    }

    // Every single-byte change: either a record the verifier accepts or an error, never
    // a crash (the sanitizers watch the reads).
    for (std::size_t i = 0; i < valid.size(); ++i) {
        std::string flipped = valid;
        flipped[i] = static_cast<char>(flipped[i] ^ 0xa5);
        {
            raw_env raw(dir_.path());
            raw.put("aggregates", key, flipped);
        }
        auto store = open_ok();
        ASSERT_TRUE(store);
        auto got = store->load(context::orders, "o-1");
        if (!got) {
            EXPECT_NE(got.error().message.find("corrupt"), std::string::npos)
                << got.error().message;
        }
    }
}

TEST_F(state_store_refusal, corrupt_commit_and_checkpoint_values_are_store_errors) {
    {
        auto store = open_ok();
        ASSERT_TRUE(store);
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        ASSERT_OK(batch->add_commit_location(context::payments, "p",
                                             commit_location{1, 1, position{partition_id(0), log_offset(5)}}));
        ASSERT_OK(batch->set_checkpoint(context::payments, partition_id(0), log_offset(6)));
        ASSERT_OK(batch->commit());
    }
    {
        raw_env raw(dir_.path());
        raw.put("commits", commit_key(context::payments, "p", 2), std::string(15, '\0'));
        raw.put("checkpoints", checkpoint_key(context::payments, 1), std::string(7, '\0'));
    }
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto commits = store->commit_locations(context::payments, "p");
    ASSERT_FALSE(commits);
    EXPECT_NE(commits.error().message.find("corrupt"), std::string::npos)
        << commits.error().message;
    // The filter stops before the bad entry.
    auto first = store->commit_locations(context::payments, "p", 1);
    ASSERT_OK(first);
    EXPECT_EQ(first->size(), 1u);
    auto cps = store->checkpoints(context::payments);
    ASSERT_FALSE(cps);
    EXPECT_NE(cps.error().message.find("corrupt"), std::string::npos) << cps.error().message;
}

// An entry whose record sits off an 8-byte boundary (as builds before the forced
// alignment wrote them) reads the same, through an aligned copy.
TEST_F(state_store_refusal, an_entry_with_a_misaligned_record_reads_the_same) {
    { ASSERT_TRUE(open_ok()); }
    // commit_entry written field by field (state_record.fbs: event_count is field 0,
    // partition 1, offset 2, record 9), without aligning the record vector; the record
    // length that leaves it off an 8-byte boundary depends on the builder, so try a few.
    std::string entry;
    std::vector<std::uint8_t> record;
    for (std::size_t len = 1; len <= 16 && entry.empty(); ++len) {
        record.assign(len, 0x5a);
        flatbuffers::FlatBufferBuilder b;
        const auto rec = b.CreateVector(record);
        const auto start = b.StartTable();
        b.AddElement<std::uint32_t>(4, 1, 0);
        b.AddElement<std::int32_t>(6, 2, 0);
        b.AddElement<std::int64_t>(8, 77, 0);
        b.AddOffset(22, rec);
        b.FinishSizePrefixed(flatbuffers::Offset<void>(b.EndTable(start)), "SSCE");
        const std::size_t record_at = b.GetSize() - rec.o + sizeof(flatbuffers::uoffset_t);
        if (record_at % 8 != 0) entry.assign(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    }
    ASSERT_FALSE(entry.empty()) << "no record length left the record misaligned";
    { raw_env(dir_.path()).put("commits", commit_key(context::orders, "o", 1), entry); }
    auto store = open_ok();
    ASSERT_TRUE(store);
    int visits = 0;
    ASSERT_OK(store->visit_commits(context::orders, "o", 5, [&](const stored_commit_view& c) {
        ++visits;
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(c.record.data()) % 8, 0U);
        EXPECT_TRUE(std::equal(c.record.begin(), c.record.end(), record.begin(), record.end()));
        EXPECT_EQ(c.location, (commit_location{1, 1, position{partition_id(2), log_offset(77)}}));
        return true;
    }));
    EXPECT_EQ(visits, 1);
}

TEST_F(state_store_refusal, ids_must_be_1_to_255_bytes) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    const std::string too_long(256, 'x');
    const std::string longest(255, 'x');
    auto batch = store->begin_write();
    ASSERT_OK(batch);
    for (std::string_view id : {std::string_view(too_long), std::string_view()}) {
        SCOPED_TRACE(id.size());
        auto put = batch->put(context::orders, id, sample(1, 1));
        ASSERT_FALSE(put);
        EXPECT_NE(put.error().message.find("1-255 bytes"), std::string::npos)
            << put.error().message;
        EXPECT_FALSE(batch->add_commit_location(context::orders, id, commit_location{1, 1, {}}));
        EXPECT_FALSE(batch->load(context::orders, id));
        EXPECT_FALSE(store->load(context::orders, id));
        EXPECT_FALSE(store->commit_locations(context::orders, id));
    }
    // Refusing an id is not a failed write: the batch goes on.
    ASSERT_OK(batch->put(context::orders, longest, sample(1, 1)));
    ASSERT_OK(batch->add_commit_location(context::orders, longest, commit_location{1, 1, {}}));
    ASSERT_OK(batch->commit());
    auto got = store->load(context::orders, longest);
    ASSERT_OK(got);
    EXPECT_TRUE(got->has_value());
    // The refused 256-byte id left nothing under its 255-byte prefix.
    auto prefixed = store->commit_locations(context::orders, longest);
    ASSERT_OK(prefixed);
    EXPECT_EQ(prefixed->size(), 1u);
}

TEST_F(state_store_refusal, a_full_map_is_a_store_error_and_a_bigger_map_fixes_it) {
    const state_store::options tiny{256 * 1024, state_store::durability::relaxed};
    auto store = open_ok(tiny);
    ASSERT_TRUE(store);
    const std::vector<std::uint8_t> big(3000, 0x5a);
    std::optional<store_error> error;
    int committed = 0;
    for (int i = 0; i < 1000 && !error; ++i) {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        for (int j = 0; j < 2 && !error; ++j) {
            stored_aggregate a = sample(1, 1);
            a.snapshot = big;
            const std::string id = "r-" + std::to_string(i) + "-" + std::to_string(j);
            auto put = batch->put(context::reviews, id, a);
            if (!put) {
                error = put.error();
                // The batch is unusable now, and says so rather than writing on.
                auto again = batch->put(context::reviews, "another", sample(1, 1));
                ASSERT_FALSE(again);
                EXPECT_EQ(again.error().code, store_errc::full) << again.error();
                EXPECT_FALSE(batch->commit());
            }
        }
        if (error) break;
        auto commit = batch->commit();
        if (!commit) {
            error = commit.error();
        } else {
            ++committed;
        }
    }
    ASSERT_TRUE(error) << "1000 batches of 6 KB fit a 256 KiB map";
    EXPECT_EQ(error->code, store_errc::full) << error->message;
    EXPECT_EQ(error->error_code(), std::error_code(store_errc::full));
    EXPECT_NE(error->message.find("MDB_MAP_FULL"), std::string::npos) << error->message;
    EXPECT_NE(error->message.find("map_size"), std::string::npos) << error->message;
    ASSERT_GT(committed, 0);

    // What was committed is still there, and the store still writes small things.
    auto first = store->load(context::reviews, "r-0-0");
    ASSERT_OK(first);
    EXPECT_TRUE(first->has_value());

    store.reset();
    store =
        open_ok(state_store::options{std::uint64_t{64} << 20, state_store::durability::relaxed});
    ASSERT_TRUE(store);
    auto batch = store->begin_write();
    ASSERT_OK(batch);
    stored_aggregate a = sample(1, 1);
    a.snapshot = big;
    for (int j = 0; j < 100; ++j) {
        ASSERT_OK(batch->put(context::reviews, "s-" + std::to_string(j), a));
    }
    ASSERT_OK(batch->commit());
    auto last = store->load(context::reviews, "r-" + std::to_string(committed - 1) + "-1");
    ASSERT_OK(last);
    EXPECT_TRUE(last->has_value());
}

TEST_F(state_store_refusal, misuse_is_an_error_not_a_hang_or_a_crash) {
    auto store = open_ok();
    ASSERT_TRUE(store);

    auto twice = state_store::open(dir_.path());
    ASSERT_FALSE(twice) << "the same directory opened twice in one process";
    EXPECT_NE(twice.error().message.find("already open"), std::string::npos)
        << twice.error().message;

    auto batch = store->begin_write();
    ASSERT_OK(batch);
    auto second = store->begin_write();  // would deadlock inside LMDB
    ASSERT_FALSE(second);
    ASSERT_OK(batch->commit());
    EXPECT_FALSE(batch->put(context::orders, "o", sample(1, 1)));
    EXPECT_FALSE(batch->commit());

    write_batch moved = std::move(*batch);
    EXPECT_FALSE(batch->load(context::orders, "o"));  // NOLINT(bugprone-use-after-move)
    auto third = store->begin_write();
    ASSERT_OK(third);
}

// ---- threads ---------------------------------------------------------------------------

using state_store_concurrency = state_store_test;

// The writer writes, in this order within each batch, a checkpoint, aggregate A, aggregate
// B and a commit of A, all carrying the batch number. Readers read them in the same order,
// each in its own read transaction. Whole batches make every later read at least as new as
// an earlier one; a batch that became visible piece by piece would, sooner or later, show a
// reader a checkpoint (or A) ahead of what it reads next.
TEST_F(state_store_concurrency, readers_never_see_part_of_a_batch) {
    auto store = open_ok(state_store::options{std::uint64_t{256} << 20,
                                              state_store::durability::relaxed});
    ASSERT_TRUE(store);
    constexpr std::int64_t batches = 400;
    std::atomic<bool> done{false};
    std::atomic<std::int64_t> observations{0};
    std::atomic<std::int64_t> torn{0};
    std::atomic<std::int64_t> errors{0};

    std::vector<std::thread> readers;
    // Stops and joins the readers however the writer below leaves the test.
    struct stop_readers {
        std::atomic<bool>& done;
        std::vector<std::thread>& threads;
        ~stop_readers() {
            done = true;
            for (auto& t : threads) t.join();
        }
    };
    {
    const stop_readers stopper{done, readers};
    for (int r = 0; r < 4; ++r) {
        readers.emplace_back([&] {
            std::int64_t last = 0;
            while (!done.load()) {
                auto cps = store->checkpoints(context::orders);
                auto a = store->load(context::orders, "A");
                auto b = store->load(context::orders, "B");
                auto commits = store->commit_locations(context::orders, "A");
                if (!cps || !a || !b || !commits) {
                    ++errors;
                    continue;
                }
                const std::int64_t c = cps->contains(partition_id(0)) ? cps->at(partition_id(0)).value() : 0;
                const auto va = a->has_value() ? static_cast<std::int64_t>((*a)->head.version) : 0;
                const auto vb = b->has_value() ? static_cast<std::int64_t>((*b)->head.version) : 0;
                const auto n = static_cast<std::int64_t>(commits->size());
                if (!(last <= c && c <= va && va <= vb && vb <= n)) ++torn;
                if (a->has_value() && (*a)->snapshot.size() != static_cast<std::size_t>(va)) ++torn;
                last = c;
                ++observations;
            }
        });
    }
    for (std::int64_t i = 1; i <= batches; ++i) {
        auto batch = store->begin_write();
        ASSERT_OK(batch);
        stored_aggregate a;
        a.head.version = static_cast<std::uint64_t>(i);
        a.snapshot.assign(static_cast<std::size_t>(i), 0x11);
        ASSERT_OK(batch->set_checkpoint(context::orders, partition_id(0), log_offset(i)));
        ASSERT_OK(batch->put(context::orders, "A", a));
        ASSERT_OK(batch->put(context::orders, "B", a));
        ASSERT_OK(batch->add_commit_location(context::orders, "A",
                                             commit_location{static_cast<std::uint64_t>(i), 1,
                                                             position{partition_id(0), log_offset(i)}}));
        ASSERT_OK(batch->commit());
        if (i % 50 == 0) std::this_thread::yield();
    }
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(torn.load(), 0);
    EXPECT_GT(observations.load(), 0);
    auto cps = store->checkpoints(context::orders);
    ASSERT_OK(cps);
    EXPECT_EQ(cps->at(partition_id(0)), log_offset(batches));
}

TEST_F(state_store_concurrency, a_second_writer_waits_for_the_first) {
    auto store = open_ok();
    ASSERT_TRUE(store);
    auto first = store->begin_write();
    ASSERT_OK(first);
    ASSERT_OK(first->put(context::orders, "o", sample(1, 1)));

    std::atomic<bool> began{false};
    std::optional<stored_aggregate> seen;
    std::string failure;
    std::thread second([&] {
        auto batch = store->begin_write();
        began = true;
        if (!batch) {
            failure = batch.error().message;
            return;
        }
        auto got = batch->load(context::orders, "o");
        if (!got) {
            failure = got.error().message;
            return;
        }
        seen = *got;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(began.load()) << "a second write batch began while the first was open";
    auto committed = first->commit();  // frees the writer lock even if it fails
    EXPECT_TRUE(committed) << committed.error().message;
    second.join();
    EXPECT_TRUE(began.load());
    EXPECT_EQ(failure, "");
    ASSERT_TRUE(seen.has_value()) << "the second batch did not see the first's commit";
    EXPECT_EQ(*seen, sample(1, 1));
}

}  // namespace
}  // namespace shopstream::eventstore
