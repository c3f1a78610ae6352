// The history checker against hand-built logs, stores and reads: a clean history passes
// with the counts it printed, and each rule, broken on purpose, is caught and named (a
// checker that cannot fail proves nothing).
#include "tests/support/history_checker.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/tail.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
namespace es = eventstore;
namespace review = domain::review;
using ::testing::HasSubstr;

constexpr es::context ctx = es::context::reviews;
es::position pos(std::int32_t partition, std::int64_t offset) {
    return {es::partition_id(partition), es::log_offset(offset)};
}

const std::string r1 = review::review_id_for("sku-1", domain::customer_id("author-1")).value();
const std::string r2 = review::review_id_for("sku-2", domain::customer_id("author-2")).value();

// A reviews topic written by hand: each commit at the next offset of its partition.
class log_builder {
public:
    // A commit of `events` votes (a submission first when expected_version is 0).
    es::position add(const std::string& aggregate, std::int32_t partition, const std::string& command_id,
                     std::uint64_t expected_version, int events = 1) {
        es::commit c;
        c.aggregate_id = aggregate;
        c.expected_version = expected_version;
        c.command_id = command_id;
        for (int i = 0; i < events; ++i) {
            if (expected_version == 0 && i == 0) {  // review ids are "<sku>~<author>"
                const auto tilde = aggregate.find('~');
                c.events.push_back(es::review_aggregate::encode_event(review::review_submitted{
                    domain::review_id(aggregate), aggregate.substr(0, tilde),
                    domain::customer_id(aggregate.substr(tilde + 1)), 4, "Title", "Body", 1}));
            } else {
                c.events.push_back(es::review_aggregate::encode_event(review::review_marked_helpful{
                    domain::review_id(aggregate), domain::customer_id(command_id + "-" + std::to_string(i)), 2}));
            }
        }
        const auto bytes = es::encode_commit(c);
        record r;
        r.key = aggregate;
        r.value = std::string(bytes.begin(), bytes.end());
        r.partition = partition;
        r.offset = next_[partition]++;
        records_.push_back(std::move(r));
        return pos(records_.back().partition, records_.back().offset);
    }
    // A record that is not a commit (every reader skips it).
    void junk(std::int32_t partition) {
        record r;
        r.key = "junk";
        r.value = "not a commit";
        r.partition = partition;
        r.offset = next_[partition]++;
        records_.push_back(std::move(r));
    }
    [[nodiscard]] const std::vector<record>& records() const { return records_; }
    [[nodiscard]] const std::map<std::int32_t, std::int64_t>& ends() const { return next_; }

private:
    std::vector<record> records_;
    std::map<std::int32_t, std::int64_t> next_;
};

// A store that applied `log` with the tail's own batch applier (the rule every reader uses).
std::unique_ptr<es::state_store> store_of(const std::filesystem::path& dir, const log_builder& log) {
    auto store = es::state_store::open(dir, {std::uint64_t{1} << 28, es::state_store::durability::relaxed});
    if (!store) throw std::runtime_error(store.error().message);
    auto batch = (*store)->begin_write();
    if (!batch) throw std::runtime_error(batch.error().message);
    {
        es::batch_applier applier(*batch);
        for (const auto& r : log.records()) {
            const std::string& v = *r.value;
            auto applied = applier.apply(ctx, pos(r.partition, r.offset), *r.key,
                                         {reinterpret_cast<const std::uint8_t*>(v.data()), v.size()});  // NOLINT
            if (!applied) throw std::runtime_error(applied.error().message);
        }
        if (auto finished = applier.finish(); !finished) throw std::runtime_error(finished.error().message);
    }
    for (const auto& [partition, end] : log.ends()) {
        if (auto set = batch->set_checkpoint(ctx, es::partition_id(partition), es::log_offset(end)); !set) throw std::runtime_error(set.error().message);
    }
    if (auto committed = batch->commit(); !committed) throw std::runtime_error(committed.error().message);
    return std::move(*store);
}

class history_checker_test : public ::testing::Test {
protected:
    // An attempt sent at `sent` (ms on a test clock) and answered at `answered`.
    void attempt(const std::string& aggregate, const std::string& command_id, int status,
                 std::optional<es::position> at = std::nullopt, std::optional<std::uint64_t> version = std::nullopt,
                 int sent = 0, int answered = 1, bool no_op = false) {
        recorded_attempt a;
        a.sequence = attempts_.size();
        a.command = {ctx, aggregate, command_id, "", "POST /v1/reviews/" + aggregate + "/helpful"};
        if (status >= 0) a.answer = command_answer{status, no_op, at, version};
        a.sent_at = epoch_ + std::chrono::milliseconds(sent);
        a.answered_at = epoch_ + std::chrono::milliseconds(answered);
        attempts_.push_back(std::move(a));
    }

    history_report check(std::vector<const es::state_store*> stores = {}, std::vector<observed_history> reads = {},
                         bool all_writers_recorded = false) {
        history_input in;
        in.all_writers_recorded = all_writers_recorded;
        in.attempts = attempts_;
        in.log[ctx] = log_.records();
        in.stores = std::move(stores);
        in.reads = std::move(reads);
        auto report = check_history(in);
        std::cout << report.describe() << "\n";
        return report;
    }

    // The one violation `report` must hold, of `rule`.
    static void expect_only_violation(const history_report& report, const std::string& rule,
                                      const std::string& shows = "") {
        ASSERT_EQ(report.violations.size(), 1U) << report.describe();
        EXPECT_THAT(report.violations.front().rule, HasSubstr(rule));
        EXPECT_THAT(report.violations.front().log_shows, HasSubstr(shows));
        EXPECT_THAT(report.describe(), HasSubstr("VIOLATION"));
    }

    // The base history: r-1 submitted and voted on twice, r-2 submitted; a loser and a
    // retried copy in between.
    void base_history() {
        p_submit1_ = log_.add(r1, 0, "s1", 0);
        p_submit2_ = log_.add(r2, 1, "s2", 0);
        p_vote_a_ = log_.add(r1, 0, "vote-a", 1);
        log_.add(r1, 0, "vote-b", 1);  // a loser: decided on v1 too
        log_.junk(0);
        p_vote_b_ = log_.add(r1, 0, "vote-b", 2);  // decided again
        log_.add(r1, 0, "vote-a", 1);               // a producer's retried copy: a duplicate
        attempt(r1, "s1", 201, p_submit1_, 1, 0, 1);
        attempt(r2, "s2", 201, p_submit2_, 1, 0, 1);
        attempt(r1, "vote-a", 200, p_vote_a_, 2, 2, 3);
        attempt(r1, "vote-b", 200, p_vote_b_, 3, 2, 5);
        attempt(r1, "vote-c", 503, std::nullopt, std::nullopt, 6, 7);  // nothing appended
        attempt(r2, "vote-d", 504, std::nullopt, std::nullopt, 6, 9);  // unknown: not in the log
        attempt(r1, "vote-a", 200, p_vote_a_, 2, 10, 11);              // a retry: the duplicate answer
    }

    log_builder log_;
    std::vector<recorded_attempt> attempts_;
    std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
    es::position p_submit1_, p_submit2_, p_vote_a_, p_vote_b_;
    temp_dir dir_{"history-checker"};
};

observed_history read_of(const std::string& aggregate, std::vector<observed_history::event> events) {
    return {"GET /v1/reviews/" + aggregate + "/events", ctx, aggregate, std::move(events)};
}

TEST_F(history_checker_test, a_history_that_keeps_every_promise_passes_with_its_counts) {
    base_history();
    const auto store = store_of(dir_.path() / "store", log_);
    const auto report = check({store.get()}, {read_of(r1, {{1, p_submit1_, "s1"}, {2, p_vote_a_, "vote-a"}})});
    EXPECT_TRUE(report.ok()) << report.describe();
    const auto& n = report.counts;
    EXPECT_EQ(n.ok, 5);
    EXPECT_EQ(n.ok_applied_once, 5);
    EXPECT_EQ(n.unavailable_absent, 1);
    EXPECT_EQ(n.timed_out_at_most_once, 1);
    EXPECT_EQ(n.aggregates_contiguous, 2);
    EXPECT_EQ(n.stores_equal_replay, 1);
    EXPECT_EQ(n.reads_equal_log, 1);
    EXPECT_EQ(n.commits, 6);
    EXPECT_EQ(n.applied, 4);
    EXPECT_EQ(n.not_commits, 1);
    EXPECT_GE(n.ordered_kept, 1);
    EXPECT_THAT(report.summary(), HasSubstr("2xx 5 applied-once 5; "));
    EXPECT_THAT(report.summary(), HasSubstr("503 1 absent 1; "));
    EXPECT_THAT(report.summary(), HasSubstr("504 1 at-most-once 1; "));
    EXPECT_THAT(report.summary(), HasSubstr("aggregates 2 contiguous 2; stores 1 equal-replay 1"));
}

TEST_F(history_checker_test, a_2xx_for_a_commit_that_lost_is_caught) {
    base_history();
    const auto lost = log_.add(r2, 1, "vote-lost", 0);  // decided on a stale version: a loser
    attempt(r2, "vote-lost", 200, lost, 2, 20, 21);
    expect_only_violation(check(), "a 2xx is applied exactly once (applied 0 times)", "loser");
}

TEST_F(history_checker_test, a_2xx_told_another_position_or_version_is_caught) {
    base_history();
    attempt(r1, "vote-b", 200, p_vote_a_, 3, 20, 21);
    expect_only_violation(check(), "at the position and version it was told", "applied (expected v2, versions 3..3)");
    attempts_.pop_back();
    attempt(r1, "vote-b", 200, p_vote_b_, 2, 20, 21);
    expect_only_violation(check(), "at the position and version it was told");
}

TEST_F(history_checker_test, a_2xx_for_a_command_never_sent_to_the_log_is_caught) {
    base_history();
    attempt(r2, "vote-ghost", 200, p_submit2_, 1, 20, 21);
    expect_only_violation(check(), "applied 0 times", "no commit of this command in the log");
}

TEST_F(history_checker_test, a_503_whose_commit_applied_is_caught) {
    base_history();
    log_.add(r2, 1, "vote-503", 1);
    attempt(r2, "vote-503", 503, std::nullopt, std::nullopt, 20, 21);
    expect_only_violation(check(), "a 503 appended nothing that applies", "applied");
}

TEST_F(history_checker_test, a_409_whose_commit_applied_is_caught) {
    base_history();
    log_.add(r2, 1, "vote-409", 1);
    attempt(r2, "vote-409", 409, std::nullopt, std::nullopt, 20, 21);
    expect_only_violation(check(), "a 4xx appended nothing that applies");
}

TEST_F(history_checker_test, a_503_retried_to_a_2xx_is_the_retry_s_commit) {
    base_history();
    const auto at = log_.add(r2, 1, "vote-retried", 1);
    attempt(r2, "vote-retried", 503, std::nullopt, std::nullopt, 20, 21);
    attempt(r2, "vote-retried", 200, at, 2, 22, 23);
    const auto report = check();
    EXPECT_TRUE(report.ok()) << report.describe();
    EXPECT_EQ(report.counts.unavailable_absent, 2);
}

// A command id applies twice only when it is decided again after more than the rule's
// window of other commands: what a 504 retried much later (without its Idempotency-Key
// answer) would do.
TEST_F(history_checker_test, a_504_applied_twice_is_caught) {
    base_history();
    log_.add(r2, 1, "vote-twice", 1);
    std::uint64_t v = 2;
    for (std::size_t i = 0; i < es::recent_command_window; ++i) log_.add(r2, 1, "filler-" + std::to_string(i), v++);
    log_.add(r2, 1, "vote-twice", v);
    attempt(r2, "vote-twice", 504, std::nullopt, std::nullopt, 20, 21);
    expect_only_violation(check(), "a 504 is applied at most once", "2 commit(s) of it");
}

TEST_F(history_checker_test, an_unanswered_command_applied_twice_is_caught) {
    base_history();
    log_.add(r2, 1, "vote-twice", 1);
    std::uint64_t v = 2;
    for (std::size_t i = 0; i < es::recent_command_window; ++i) log_.add(r2, 1, "filler-" + std::to_string(i), v++);
    log_.add(r2, 1, "vote-twice", v);
    attempt(r2, "vote-twice", -1, std::nullopt, std::nullopt, 20, 21);  // never answered
    expect_only_violation(check(), "an unanswered command is applied at most once");
}

TEST_F(history_checker_test, a_command_sent_after_a_2xx_that_applied_below_it_is_caught) {
    // vote-late was sent after vote-early's 2xx at v2, but its commit landed first.
    p_submit1_ = log_.add(r1, 0, "s1", 0);
    const auto late = log_.add(r1, 0, "vote-late", 1);
    const auto early = log_.add(r1, 0, "vote-early", 2);
    attempt(r1, "s1", 201, p_submit1_, 1, 0, 1);
    attempt(r1, "vote-early", 200, early, 3, 2, 3);
    attempt(r1, "vote-late", 200, late, 2, 4, 5);
    expect_only_violation(check(), "a command sent after a 2xx at version 3 of its aggregate applies above it");
}

TEST_F(history_checker_test, a_no_op_naming_a_version_the_log_never_applied_is_caught) {
    base_history();
    attempt(r1, "vote-again", 200, p_vote_b_, 3, 20, 21, true);  // consistent: v3 is at p_vote_b_
    EXPECT_TRUE(check().ok());
    attempt(r1, "vote-again-2", 200, p_vote_b_, 7, 22, 23, true);
    expect_only_violation(check(), "a 2xx no-op names an applied commit", r1 + " applied: v1@0:0 s1;");
}

TEST_F(history_checker_test, a_store_with_a_gap_in_its_versions_is_caught) {
    base_history();
    const auto store = store_of(dir_.path() / "store", log_);
    {
        auto batch = store->begin_write();
        ASSERT_TRUE(batch.has_value());
        ASSERT_TRUE(batch->add_commit_location(ctx, r2, {5, 1, pos(1, 40)}).has_value());
        ASSERT_TRUE(batch->commit().has_value());
    }
    const auto report = check({store.get()});
    ASSERT_EQ(report.violations.size(), 2U) << report.describe();
    EXPECT_THAT(report.violations[0].rule, HasSubstr("versions are contiguous from 1"));
    EXPECT_THAT(report.violations[0].log_shows, HasSubstr("expected version 2, found 5"));
    EXPECT_THAT(report.violations[1].rule, HasSubstr("a store equals a fresh replay of the log"));
    EXPECT_THAT(report.violations[1].log_shows, HasSubstr("commit locations differ"));
    EXPECT_EQ(report.counts.aggregates_contiguous, 1);
}

TEST_F(history_checker_test, a_read_with_a_gap_or_another_history_is_caught) {
    base_history();
    const auto gap = check({}, {read_of(r1, {{1, p_submit1_, "s1"}, {3, p_vote_b_, "vote-b"}})});
    ASSERT_EQ(gap.violations.size(), 2U) << gap.describe();
    EXPECT_THAT(gap.violations[0].rule, HasSubstr("versions are contiguous from 1"));
    EXPECT_THAT(gap.violations[1].rule, HasSubstr("a read serves a prefix of the log's applied history"));
    expect_only_violation(check({}, {read_of(r1, {{1, p_submit1_, "s1"}, {2, p_vote_a_, "vote-b"}})}),
                          "a read serves a prefix", "the log applied v2@0:1 vote-a");
    expect_only_violation(check({}, {read_of(r2, {{1, p_submit2_, "s2"}, {2, pos(1, 1), "vote-x"}})}),
                          "a read serves a prefix", "2 events read, 1 applied in the log");
}

TEST_F(history_checker_test, a_store_whose_state_differs_from_a_fresh_replay_is_caught) {
    base_history();
    const auto store = store_of(dir_.path() / "store", log_);
    {
        auto batch = store->begin_write();
        ASSERT_TRUE(batch.has_value());
        auto loaded = batch->load(ctx, r1);
        ASSERT_TRUE(loaded.has_value() && loaded->has_value());
        auto changed = **loaded;
        auto state = es::review_aggregate::decode_state(changed.snapshot);
        ASSERT_TRUE(state.has_value());
        state->rating = 1;  // a state no replay of this log reaches
        changed.snapshot = es::review_aggregate::encode_state(*state);
        ASSERT_TRUE(batch->put(ctx, r1, changed).has_value());
        ASSERT_TRUE(batch->commit().has_value());
    }
    expect_only_violation(check({store.get()}), "a store equals a fresh replay", "its snapshot differs");
}

TEST_F(history_checker_test, a_store_missing_an_aggregate_or_behind_the_log_is_caught) {
    base_history();
    const auto store = store_of(dir_.path() / "store", log_);
    log_.add(r2, 1, "vote-new", 1);  // applied in the log after the store stopped
    expect_only_violation(check({store.get()}), "a store equals a fresh replay",
                          "reviews/" + r2 + " at version 1, a replay at 2");
    const auto report = check({store.get()});
    EXPECT_THAT(report.violations.front().log_shows, HasSubstr("partition 1: checkpoint 1, the log ends at 2"));

    log_builder other;
    other.add(review::review_id_for("sku-9", domain::customer_id("author-9")).value(), 0, "s-other", 0);
    const auto elsewhere = store_of(dir_.path() / "other", other);
    expect_only_violation(check({elsewhere.get()}), "a store equals a fresh replay", "reviews/" + r1 + " is missing");
}

TEST_F(history_checker_test, with_every_writer_recorded_a_commit_no_client_sent_is_caught) {
    base_history();
    const auto recorded = check({}, {}, true);
    EXPECT_TRUE(recorded.ok()) << recorded.describe();
    EXPECT_EQ(recorded.counts.applied_recorded, 4);
    log_.add(r2, 1, "vote-nobody-sent", 1);
    expect_only_violation(check({}, {}, true), "every applied commit is of a recorded command", "no client sent it");
    EXPECT_TRUE(check().ok()) << "without the flag, other writers may write";
}

TEST_F(history_checker_test, a_recording_saved_and_loaded_checks_the_same) {
    base_history();
    history_recorder recorder;
    const auto t = recorder.sent({ctx, r1, "vote-a", "key-1", "POST /v1/reviews/r-1/helpful"});
    recorder.answered(t, command_answer{200, false, p_vote_a_, 2});
    std::ignore = recorder.sent({ctx, r2, "vote-x", "", "never answered"});
    const auto file = dir_.path() / "history.jsonl";
    ASSERT_TRUE(recorder.save(file).has_value());
    auto loaded = history_recorder::load(file);
    ASSERT_TRUE(loaded.has_value()) << loaded.error();
    ASSERT_EQ(loaded->size(), 2U);
    const auto original = recorder.attempts();
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ((*loaded)[i].command.command_id, original[i].command.command_id);
        EXPECT_EQ((*loaded)[i].command.idempotency_key, original[i].command.idempotency_key);
        EXPECT_EQ((*loaded)[i].answer.has_value(), original[i].answer.has_value());
        EXPECT_EQ(std::chrono::duration_cast<std::chrono::microseconds>((*loaded)[i].sent_at - original[i].sent_at), 0us);
    }
    EXPECT_EQ((*loaded)[0].answer->at, p_vote_a_);
    EXPECT_EQ((*loaded)[0].answer->version, 2U);
    attempts_ = *loaded;
    const auto report = check();
    EXPECT_TRUE(report.ok()) << report.describe();
    EXPECT_EQ(report.counts.ok_applied_once, 1);
    EXPECT_EQ(report.counts.unanswered_at_most_once, 1);

    std::ofstream(dir_.path() / "bad.jsonl") << "{\"sequence\":1}\n";
    auto bad = history_recorder::load(dir_.path() / "bad.jsonl");
    ASSERT_FALSE(bad.has_value());
    EXPECT_THAT(bad.error(), HasSubstr("bad.jsonl:1"));
}

TEST(history_recorder_test, many_threads_record_at_once) {
    history_recorder recorder;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                const auto ticket = recorder.sent({ctx, "r-" + std::to_string(t), std::to_string(i), "", ""});
                recorder.answered(ticket, command_answer{503, false, std::nullopt, std::nullopt});
            }
        });
    }
    for (auto& th : threads) th.join();
    const auto attempts = recorder.attempts();
    ASSERT_EQ(attempts.size(), 1600U);
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        EXPECT_EQ(attempts[i].sequence, i);
        ASSERT_TRUE(attempts[i].answer.has_value());
        EXPECT_EQ(attempts[i].answer->status, 503);
    }
}

}  // namespace
}  // namespace shopstream::testing
