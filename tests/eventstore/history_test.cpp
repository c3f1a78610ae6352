// History reads from the state store alone (no log): visit_history() hands over in place
// exactly what read_history() copies, honours `up to` inside a commit of several events,
// stops when asked, aligns every payload, refuses a stored record that is not the commit
// the store says it is, and replay() folds the same events. The store is a real LMDB
// environment in a temp dir; the commits are encoded as the producer encodes them.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "eventstore/aggregate_reader.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/state_store.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::eventstore {
namespace {

namespace review = domain::review;

constexpr auto all_versions = std::numeric_limits<std::uint64_t>::max();
const std::string id = "sku-h~author";

review::event submitted() {
    return review::review_submitted{review::review_id_for("sku-h", domain::customer_id("author")), "sku-h",
                                    domain::customer_id("author"), 4, "Fine", "Works", 1};
}

review::event edited(int i) {
    return review::review_edited{review::review_id_for("sku-h", domain::customer_id("author")),
                                 static_cast<std::uint8_t>(1 + i % 5), "Edit " + std::to_string(i),
                                 std::string(static_cast<std::size_t>(i), 'b'), 10 + i};
}

class history_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto opened = state_store::open(dir_.path());
        ASSERT_TRUE(opened) << opened.error().message;
        store_ = std::move(*opened);
        // Version 1 alone, versions 2-4 in one commit, then 5..9 one per commit.
        std::vector<std::vector<review::event>> commits = {{submitted()}, {edited(2), edited(3), edited(4)}};
        for (int v = 5; v <= 9; ++v) commits.push_back({edited(v)});
        auto batch = store_->begin_write();
        ASSERT_TRUE(batch);
        std::uint64_t version = 0;
        for (std::size_t k = 0; k < commits.size(); ++k) {
            commit c{id, version, "cmd-" + std::to_string(k), {}};
            for (const auto& e : commits[k]) c.events.push_back(review_aggregate::encode_event(e));
            const stored_commit stored{
                commit_location{version + 1, static_cast<std::uint32_t>(c.events.size()),
                                position{partition_id(2), log_offset(static_cast<std::int64_t>(100 + k))}},
                commit_headers{1'700'000'000'000 + static_cast<std::int64_t>(k), "edit_review", "corr-" + std::to_string(k),
                               "", "customer:author", ""},
                encode_commit(c)};
            ASSERT_TRUE(batch->add_commit(context::reviews, id, stored));
            version += c.events.size();
        }
        ASSERT_TRUE(batch->commit());
    }

    std::vector<recorded_event> visited(std::uint64_t up_to) {
        std::vector<recorded_event> out;
        auto r = visit_history(*store_, context::reviews, id, up_to, [&](const recorded_event_view& e) {
            EXPECT_EQ(reinterpret_cast<std::uintptr_t>(e.event.payload.data()) % 8, 0U) << "version " << e.version;
            out.push_back(e.owned());
            return true;
        });
        EXPECT_TRUE(r) << r.error();
        return out;
    }

    shopstream::testing::temp_dir dir_;
    std::unique_ptr<state_store> store_;
};

bool same(const std::vector<recorded_event>& a, const std::vector<recorded_event>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].version != b[i].version || a[i].at != b[i].at || a[i].command_id != b[i].command_id ||
            a[i].headers != b[i].headers || a[i].event != b[i].event) {
            return false;
        }
    }
    return true;
}

TEST_F(history_test, a_visit_hands_over_in_place_what_read_history_copies) {
    auto owned = read_history(*store_, context::reviews, id);
    ASSERT_TRUE(owned) << owned.error();
    ASSERT_EQ(owned->size(), 9U);
    for (std::size_t i = 0; i < owned->size(); ++i) EXPECT_EQ((*owned)[i].version, i + 1);
    EXPECT_EQ((*owned)[2].command_id, "cmd-1");
    EXPECT_EQ((*owned)[2].at, (position{partition_id(2), log_offset(101)}));
    EXPECT_EQ((*owned)[2].headers.correlation_id, "corr-1");
    EXPECT_TRUE(same(visited(all_versions), *owned));
}

TEST_F(history_test, up_to_a_version_inside_a_commit_of_several_events_stops_at_it) {
    for (std::uint64_t up_to : {0U, 1U, 2U, 3U, 4U, 5U, 9U, 10U}) {
        auto owned = read_history(*store_, context::reviews, id, up_to);
        ASSERT_TRUE(owned) << owned.error();
        EXPECT_EQ(owned->size(), std::min<std::uint64_t>(up_to, 9)) << "up to " << up_to;
        EXPECT_TRUE(same(visited(up_to), *owned)) << "up to " << up_to;
    }
}

TEST_F(history_test, a_visitor_that_stops_sees_no_more_events) {
    std::vector<std::uint64_t> seen;
    auto r = visit_history(*store_, context::reviews, id, all_versions, [&](const recorded_event_view& e) {
        seen.push_back(e.version);
        return e.version < 3;  // stops inside the commit of versions 2-4
    });
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST_F(history_test, an_unknown_aggregate_has_an_empty_history) {
    int calls = 0;
    auto r = visit_history(*store_, context::reviews, "nobody", all_versions, [&](const recorded_event_view&) {
        ++calls;
        return true;
    });
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(calls, 0);
}

TEST_F(history_test, replay_as_of_any_version_folds_the_visited_events) {
    auto full = replay<review_aggregate>(*store_, id);
    ASSERT_TRUE(full) << full.error();
    EXPECT_EQ(full->version, 9U);
    EXPECT_EQ(full->state.title, "Edit 9");
    auto as_of_3 = replay<review_aggregate>(*store_, id, 3);
    ASSERT_TRUE(as_of_3) << as_of_3.error();
    EXPECT_EQ(as_of_3->version, 3U);
    EXPECT_EQ(as_of_3->state.title, "Edit 3");
    // The same fold over read_history's copies.
    auto owned = read_history(*store_, context::reviews, id, 3);
    ASSERT_TRUE(owned);
    auto from_copies = replay<review_aggregate>(*owned, id);
    ASSERT_TRUE(from_copies);
    EXPECT_EQ(from_copies->state, as_of_3->state);
}

TEST_F(history_test, a_stored_record_of_another_commit_is_refused_by_every_read) {
    {
        // Version 5's entry now holds a commit of another aggregate.
        auto batch = store_->begin_write();
        ASSERT_TRUE(batch);
        ASSERT_TRUE(batch->add_commit(
            context::reviews, id,
            stored_commit{commit_location{5, 1, position{partition_id(2), log_offset(102)}}, {},
                          encode_commit(commit{"someone-else", 4, "cmd-x", {review_aggregate::encode_event(edited(5))}})}));
        ASSERT_TRUE(batch->commit());
    }
    int calls = 0;
    auto visit = visit_history(*store_, context::reviews, id, all_versions, [&](const recorded_event_view&) {
        ++calls;
        return true;
    });
    ASSERT_FALSE(visit);
    EXPECT_NE(visit.error().message.find("is not the commit of"), std::string::npos) << visit.error();
    EXPECT_EQ(calls, 4);  // versions 1-4 came before the bad entry
    auto owned = read_history(*store_, context::reviews, id);
    ASSERT_FALSE(owned);
    EXPECT_EQ(owned.error(), visit.error());
    auto replayed = replay<review_aggregate>(*store_, id);
    ASSERT_FALSE(replayed);
    EXPECT_EQ(replayed.error(), visit.error());
    // Up to a version before it, the history is still served.
    auto before = read_history(*store_, context::reviews, id, 4);
    ASSERT_TRUE(before) << before.error();
    EXPECT_EQ(before->size(), 4U);
}

}  // namespace
}  // namespace shopstream::eventstore
