// The state store's side index (eventstore/aggregates.hpp, "side indexes") and the
// review's voter index in it: the store's member API (round trips, isolation between
// aggregates and contexts, limits), and the tail's batch applier writing the entries an
// applied event names in the SAME write transaction as the state - never one without
// the other - so that replaying the log into a fresh store, in any batching, rebuilds
// state and index alike.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/review/review.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::eventstore {
namespace {

namespace review = domain::review;
using shopstream::testing::temp_dir;

constexpr context ctx = context::reviews;

std::unique_ptr<state_store> open_store(const temp_dir& dir, const char* name) {
    auto s = state_store::open(dir.path() / name, {std::uint64_t{1} << 26, state_store::durability::relaxed});
    EXPECT_TRUE(s.has_value()) << s.error().message;
    return s ? std::move(*s) : nullptr;
}

std::string generation(std::uint64_t g) {
    std::string out;
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(static_cast<std::uint8_t>(g >> shift)));
    return out;
}

// ---- the store's member API ----------------------------------------------------------

TEST(side_index_store, members_round_trip_per_aggregate_and_context_and_only_once_committed) {
    temp_dir dir;
    auto store = open_store(dir, "s");
    ASSERT_TRUE(store);
    {
        auto batch = store->begin_write();
        ASSERT_TRUE(batch.has_value()) << batch.error().message;
        ASSERT_TRUE(batch->put_member(ctx, "a", {"bob", "1"}).has_value());
        ASSERT_TRUE(batch->put_member(ctx, "a", {"al", "2"}).has_value());
        ASSERT_TRUE(batch->put_member(ctx, "ab", {"x", "3"}).has_value());  // "a" is its prefix
        ASSERT_TRUE(batch->put_member(context::orders, "a", {"bob", "4"}).has_value());
        ASSERT_TRUE(batch->put_member(ctx, "a", {"bob", "5"}).has_value());  // replaces
        auto own = batch->member(ctx, "a", "bob");
        ASSERT_TRUE(own.has_value());
        EXPECT_EQ(*own, std::optional<std::string>("5"));  // a batch reads its own writes
        auto outside = store->members(ctx, "a");
        ASSERT_TRUE(outside.has_value());
        EXPECT_TRUE(outside->empty()) << "a reader saw an uncommitted entry";
        ASSERT_TRUE(batch->commit().has_value());
    }
    auto a = store->members(ctx, "a");
    ASSERT_TRUE(a.has_value()) << a.error().message;
    EXPECT_EQ(*a, (std::vector<member_entry>{{"al", "2"}, {"bob", "5"}}));
    auto ab = store->members(ctx, "ab");
    ASSERT_TRUE(ab.has_value());
    EXPECT_EQ(*ab, (std::vector<member_entry>{{"x", "3"}}));
    auto orders = store->members(context::orders, "a");
    ASSERT_TRUE(orders.has_value());
    EXPECT_EQ(*orders, (std::vector<member_entry>{{"bob", "4"}}));

    auto with = store->load_with_member(ctx, "a", "bob");
    ASSERT_TRUE(with.has_value()) << with.error().message;
    EXPECT_FALSE(with->aggregate.has_value());  // an index needs no record to be read
    EXPECT_EQ(with->member_value, std::optional<std::string>("5"));
    auto none = store->load_with_member(ctx, "a", "carol");
    ASSERT_TRUE(none.has_value());
    EXPECT_FALSE(none->member_value.has_value());
}

TEST(side_index_store, a_dropped_batch_leaves_no_entry) {
    temp_dir dir;
    auto store = open_store(dir, "s");
    ASSERT_TRUE(store);
    {
        auto batch = store->begin_write();
        ASSERT_TRUE(batch.has_value());
        ASSERT_TRUE(batch->put_member(ctx, "a", {"bob", "1"}).has_value());
    }  // not committed
    auto a = store->members(ctx, "a");
    ASSERT_TRUE(a.has_value());
    EXPECT_TRUE(a->empty());
}

TEST(side_index_store, members_must_be_1_to_200_bytes_and_ids_1_to_255) {
    temp_dir dir;
    auto store = open_store(dir, "s");
    ASSERT_TRUE(store);
    auto batch = store->begin_write();
    ASSERT_TRUE(batch.has_value());
    EXPECT_TRUE(batch->put_member(ctx, std::string(255, 'i'), {std::string(200, 'm'), ""}).has_value());
    const auto empty = batch->put_member(ctx, "a", {"", "v"});
    ASSERT_FALSE(empty.has_value());
    EXPECT_NE(empty.error().message.find("1-200 bytes"), std::string::npos) << empty.error().message;
    EXPECT_FALSE(batch->put_member(ctx, "a", {std::string(201, 'm'), "v"}).has_value());
    EXPECT_FALSE(batch->put_member(ctx, "", {"m", "v"}).has_value());
    EXPECT_FALSE(store->load_with_member(ctx, "a", std::string(201, 'm')).has_value());
    // Refused before LMDB saw them: the batch is still usable.
    ASSERT_TRUE(batch->put_member(ctx, "a", {"m", "v"}).has_value());
    ASSERT_TRUE(batch->commit().has_value());
    auto a = store->members(ctx, "a");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(*a, (std::vector<member_entry>{{"m", "v"}}));
}

// ---- the voter index, written by the batch applier -------------------------------------

const std::string sku = "sku-1";
const domain::customer_id author{"author"};
const std::string id = review::review_id_for(sku, author).value();

std::vector<std::uint8_t> commit_of(std::uint64_t expected_version, std::string command_id, review::event e) {
    commit c{id, expected_version, std::move(command_id), {review_aggregate::encode_event(e)}};
    return encode_commit(c);
}

review::review_marked_helpful vote_of(const std::string& voter) {
    return {domain::review_id{id}, domain::customer_id{voter}, 5};
}

// A log of one review as the deciders and the rule make it: submitted, two votes, a
// second vote of bob's decided on a stale version (a loser), a producer retry (a
// duplicate), retracted, submitted again, bob voting again in the new generation.
std::vector<std::vector<std::uint8_t>> review_log() {
    const review::review_submitted submitted{domain::review_id{id}, sku, author, 4, "Fine", "", 1};
    return {
        commit_of(0, "submit", submitted),
        commit_of(1, "vote-bob", vote_of("bob")),
        commit_of(2, "vote-carol", vote_of("carol")),
        commit_of(1, "vote-bob-again", vote_of("bob")),  // loser: decided at version 1
        commit_of(2, "vote-carol", vote_of("carol")),    // duplicate: a retry
        commit_of(3, "retract", review::review_retracted{domain::review_id{id}, {"author", domain::role::customer}, 6}),
        commit_of(4, "submit-2", submitted),
        commit_of(5, "vote-bob-2", vote_of("bob")),
    };
}

// Applies `records` from offset 0 of partition 0, `per_batch` records per write batch.
void apply_log(state_store& store, const std::vector<std::vector<std::uint8_t>>& records, std::size_t per_batch) {
    for (std::size_t first = 0; first < records.size(); first += per_batch) {
        auto batch = store.begin_write();
        ASSERT_TRUE(batch.has_value()) << batch.error().message;
        batch_applier applier(*batch);
        for (std::size_t i = first; i < std::min(records.size(), first + per_batch); ++i) {
            auto r = applier.apply(ctx, position{partition_id(0), log_offset(static_cast<std::int64_t>(i))}, id, records[i]);
            ASSERT_TRUE(r.has_value()) << r.error().message;
        }
        ASSERT_TRUE(applier.finish().has_value());
        ASSERT_TRUE(batch->commit().has_value());
    }
}

review::state state_in(const state_store& store) {
    auto loaded = store.load(ctx, id);
    EXPECT_TRUE(loaded.has_value() && loaded->has_value());
    if (!loaded || !*loaded) return {};
    auto s = review_aggregate::decode_state((*loaded)->snapshot);
    EXPECT_TRUE(s.has_value());
    return s.value_or(review::state{});
}

TEST(voter_index, the_applier_writes_the_entry_in_the_states_transaction_and_nowhere_else) {
    temp_dir dir;
    auto store = open_store(dir, "s");
    ASSERT_TRUE(store);
    const auto log = review_log();
    apply_log(*store, {log[0]}, 1);
    {
        auto batch = store->begin_write();
        ASSERT_TRUE(batch.has_value());
        batch_applier applier(*batch);
        ASSERT_TRUE(applier.apply(ctx, position{partition_id(0), log_offset(1)}, id, log[1]).has_value());
        auto inside = batch->member(ctx, id, "bob");
        ASSERT_TRUE(inside.has_value());
        EXPECT_EQ(*inside, std::optional<std::string>(generation(1)));
        // Until the batch commits, readers see neither the vote's state nor its entry.
        auto outside = store->load_with_member(ctx, id, "bob");
        ASSERT_TRUE(outside.has_value());
        EXPECT_FALSE(outside->member_value.has_value());
        EXPECT_EQ(outside->aggregate->head.version, 1U);
        ASSERT_TRUE(applier.finish().has_value());
    }  // dropped: the tail failed later in this batch
    auto dropped = store->load_with_member(ctx, id, "bob");
    ASSERT_TRUE(dropped.has_value());
    EXPECT_FALSE(dropped->member_value.has_value());
    EXPECT_EQ(dropped->aggregate->head.version, 1U);
    EXPECT_EQ(state_in(*store).helpful_count(), 0U);

    apply_log(*store, {log[0], log[1]}, 2);  // the record again, committed this time (offset 0 is a duplicate)
    auto kept = store->load_with_member(ctx, id, "bob");
    ASSERT_TRUE(kept.has_value());
    EXPECT_EQ(kept->member_value, std::optional<std::string>(generation(1)));
    EXPECT_EQ(kept->aggregate->head.version, 2U);
    EXPECT_EQ(state_in(*store).helpful_count(), 1U);
}

TEST(voter_index, losers_and_duplicates_write_no_entry_and_a_new_generation_overwrites_the_old) {
    temp_dir dir;
    auto store = open_store(dir, "s");
    ASSERT_TRUE(store);
    const auto log = review_log();
    apply_log(*store, {log.begin(), log.begin() + 5}, 5);  // up to the loser and the duplicate
    auto before = store->members(ctx, id);
    ASSERT_TRUE(before.has_value());
    EXPECT_EQ(*before, (std::vector<member_entry>{{"bob", generation(1)}, {"carol", generation(1)}}));
    EXPECT_EQ(state_in(*store).helpful_count(), 2U);

    apply_log(*store, log, log.size());  // the rest (the first five are duplicates now)
    const auto s = state_in(*store);
    EXPECT_EQ(s.generation, 2U);
    EXPECT_EQ(s.helpful_count(), 1U);  // bob's new vote; carol's was for the retracted review
    auto after = store->members(ctx, id);
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(*after, (std::vector<member_entry>{{"bob", generation(2)}, {"carol", generation(1)}}));
    EXPECT_EQ(review_aggregate::has_voted(s, after->at(0).value), std::optional<bool>(true));
    EXPECT_EQ(review_aggregate::has_voted(s, after->at(1).value), std::optional<bool>(false));
    EXPECT_EQ(review_aggregate::has_voted(s, std::nullopt), std::optional<bool>(false));
    EXPECT_EQ(review_aggregate::has_voted(s, std::string("bad")), std::nullopt);
}

TEST(voter_index, a_replay_of_the_log_into_a_fresh_store_rebuilds_state_and_index_in_any_batching) {
    temp_dir dir;
    const auto log = review_log();
    auto one_batch = open_store(dir, "one-batch");
    auto per_record = open_store(dir, "per-record");
    ASSERT_TRUE(one_batch && per_record);
    apply_log(*one_batch, log, log.size());
    apply_log(*per_record, log, 1);
    auto x = one_batch->load(ctx, id);
    auto y = per_record->load(ctx, id);
    ASSERT_TRUE(x.has_value() && y.has_value() && x->has_value() && y->has_value());
    EXPECT_EQ(**x, **y);
    auto mx = one_batch->members(ctx, id);
    auto my = per_record->members(ctx, id);
    ASSERT_TRUE(mx.has_value() && my.has_value());
    EXPECT_EQ(*mx, *my);
    EXPECT_EQ(mx->size(), 2U);
    // And the state equals the pure fold of the applied events (what replay() computes).
    review::state folded;
    const review::review_submitted submitted{domain::review_id{id}, sku, author, 4, "Fine", "", 1};
    for (const review::event& e : std::vector<review::event>{
             submitted, vote_of("bob"), vote_of("carol"),
             review::review_retracted{domain::review_id{id}, {"author", domain::role::customer}, 6}, submitted,
             vote_of("bob")}) {
        folded = review::evolve(std::move(folded), e);
    }
    EXPECT_EQ(state_in(*one_batch), folded);
}

}  // namespace
}  // namespace shopstream::eventstore
