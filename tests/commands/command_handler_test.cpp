// The command handler's own logic - what each answer promises, waits, retries, lanes,
// shutdown - against the in-memory twin of the log (eventstore::memory_log), a manual
// clock and a manual executor, so every interleaving is driven step by step. The same
// handler against Kafka is in tests/integration/.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <future>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "commands/command_handler.hpp"
#include "eventstore/memory_log.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

using namespace std::chrono_literals;
using commands::command_errc;
using commands::outcome_kind;
using eventstore::append_fault;
using eventstore::context;
namespace review = domain::review;

// Runs posted work only when told, on the test's thread.
class manual_executor final : public commands::executor {
public:
    bool post(std::function<void()> work) override {
        std::lock_guard lock(mu_);
        if (stopped_) return false;
        queue_.push_back(std::move(work));
        return true;
    }
    // Runs everything queued, including what that posts; returns how many ran.
    std::size_t run() {
        std::size_t n = 0;
        for (;;) {
            std::function<void()> next;
            {
                std::lock_guard lock(mu_);
                if (queue_.empty()) return n;
                next = std::move(queue_.front());
                queue_.pop_front();
            }
            next();
            ++n;
        }
    }
    [[nodiscard]] std::size_t queued() {
        std::lock_guard lock(mu_);
        return queue_.size();
    }
    void stop() {
        std::lock_guard lock(mu_);
        stopped_ = true;
    }

private:
    std::mutex mu_;
    std::deque<std::function<void()>> queue_;
    bool stopped_ = false;
};

// The answer a command got, once it got one.
struct answer {
    std::optional<commands::command_result> result;
    int calls = 0;
    commands::command_callback callback() {
        return [this](commands::command_result r) {
            ++calls;
            result = std::move(r);
        };
    }
    [[nodiscard]] bool answered() const { return result.has_value(); }
    [[nodiscard]] command_errc error() const { return result->error().code; }
};

domain::actor author() { return {"author", domain::role::customer}; }

review::submit_review submit(std::string sku = "sku-1") {
    return review::submit_review{std::move(sku), domain::customer_id("author"), 4, "Fine", "Works", author(), 1};
}

review::edit_review edit(int rating, std::string sku = "sku-1") {
    return review::edit_review{review::review_id_for(sku, domain::customer_id("author")), rating, "Edited", "", author(),
                               2};
}

commands::command_metadata meta(std::string id) { return {std::move(id), "corr", "", ""}; }

const std::string review_of_sku_1 = review::review_id_for("sku-1", domain::customer_id("author")).value();

review::vote_helpful vote_by(std::string voter) {
    return review::vote_helpful{domain::review_id{review_of_sku_1}, {std::move(voter), domain::role::customer}, 3};
}

class command_handler_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = eventstore::state_store::open(dir_.path() / "state",
                                               {std::uint64_t{1} << 26, eventstore::state_store::durability::relaxed});
        ASSERT_TRUE(s.has_value()) << s.error().message;
        store_ = std::move(*s);
        log_.emplace(*store_, clock_);
        handler_.emplace(commands::store_runtime{*store_, *log_, *log_},
                         commands::handler_options{.clock = &clock_, .continuations = &exec_});
    }

    void TearDown() override {
        exec_.run();
        handler_.reset();
        log_.reset();
    }

    // Runs a command to its answer with the twin applying synchronously.
    commands::command_result run(review::command c, std::string id, commands::command_options o = {}) {
        answer a;
        handler_->handle(std::move(c), meta(std::move(id)), o, a.callback());
        exec_.run();
        EXPECT_TRUE(a.answered());
        return a.result.value_or(fail(commands::command_error{}));
    }

    // Another writer - its own handler (own lanes) over the same log and store - edits the
    // review to version 2; from here on the twin holds what is appended unapplied.
    struct other_writer {
        std::unique_ptr<commands::review_handler> handler;
        std::unique_ptr<answer> edited = std::make_unique<answer>();
    };
    // Another writer's handler over the same log and store, with its own lanes.
    std::unique_ptr<commands::review_handler> other_handler() {
        return std::make_unique<commands::review_handler>(
            commands::store_runtime{*store_, *log_, *log_},
            commands::handler_options{.clock = &clock_, .continuations = &other_exec_});
    }
    other_writer another_writer_edits_unapplied() {
        other_writer w{other_handler()};
        log_->hold_apply(true);
        w.handler->handle(edit(2), meta("other-1"), {}, w.edited->callback());
        return w;
    }

    testing::temp_dir dir_;
    eventstore::manual_clock clock_;
    manual_executor exec_;
    manual_executor other_exec_;  // another writer's; outlives the twin's last callbacks
    std::unique_ptr<eventstore::state_store> store_;
    std::optional<eventstore::memory_log> log_;
    std::optional<commands::review_handler> handler_;
};

TEST_F(command_handler_test, an_applied_commit_answers_with_its_version_and_position) {
    auto r = run(submit(), "c1");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->kind, outcome_kind::applied);
    EXPECT_EQ(r->version, 1U);
    ASSERT_TRUE(r->at.has_value());
    EXPECT_EQ(log_->appends(), 1U);
    EXPECT_EQ(log_->waits(), 0U);
}

TEST_F(command_handler_test, the_verdict_is_handled_on_the_executor_not_on_the_tails_thread) {
    log_->hold_apply(true);
    answer a;
    handler_->handle(submit(), meta("c1"), {}, a.callback());
    EXPECT_EQ(exec_.queued(), 0U);
    log_->apply();  // the tail judges the commit: its callback only hands the work on
    EXPECT_FALSE(a.answered());
    EXPECT_EQ(exec_.queued(), 1U);
    exec_.run();
    ASSERT_TRUE(a.answered());
    EXPECT_TRUE(a.result->has_value());
}

// Item 1: a delivery report that says the record is certainly not in the log is 503 at once.
TEST_F(command_handler_test, a_commit_the_log_did_not_take_is_unavailable_and_its_wait_is_removed) {
    log_->inject(append_fault::not_persisted);
    auto r = run(submit(), "c1");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, command_errc::unavailable) << r.error().message;
    std::int64_t records = 0;
    for (std::int32_t p = 0; p < 4; ++p) records += log_->log_end(context::reviews, eventstore::partition_id(p)).value();
    EXPECT_EQ(records, 0);
    EXPECT_EQ(log_->waits(), 0U);
}

TEST_F(command_handler_test, a_full_queue_is_unavailable_at_once) {
    log_->inject(append_fault::backpressure);
    auto r = run(submit(), "c1");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, command_errc::unavailable);
    EXPECT_EQ(log_->waits(), 0U);
}

// Item 1: "possibly persisted" is not "not done": the record may be in the log and win.
TEST_F(command_handler_test, a_possibly_persisted_commit_that_is_in_the_log_answers_applied) {
    log_->hold_apply(true);
    log_->inject(append_fault::possibly_persisted_kept);
    answer a;
    handler_->handle(submit(), meta("c1"), {}, a.callback());
    exec_.run();
    EXPECT_FALSE(a.answered()) << "answered before the verdict: "
                               << (a.result->has_value() ? "ok" : a.result->error().message);
    log_->apply();
    exec_.run();
    ASSERT_TRUE(a.answered());
    ASSERT_TRUE(a.result->has_value()) << a.result->error().message;
    EXPECT_EQ((*a.result)->kind, outcome_kind::applied);
}

TEST_F(command_handler_test, a_possibly_persisted_commit_without_a_verdict_is_timed_out_and_safe_to_retry) {
    log_->inject(append_fault::possibly_persisted_lost);
    answer a;
    handler_->handle(submit(), meta("c1"), {.expected_version = std::nullopt, .timeout = 5s}, a.callback());
    exec_.run();
    EXPECT_FALSE(a.answered());
    clock_.advance(4s);
    EXPECT_EQ(log_->expire(), 0U);
    clock_.advance(1s);
    EXPECT_EQ(log_->expire(), 1U);
    exec_.run();
    ASSERT_TRUE(a.answered());
    ASSERT_FALSE(a.result->has_value());
    EXPECT_EQ(a.error(), command_errc::timed_out) << a.result->error().message;

    auto retry = run(submit(), "c1");
    ASSERT_TRUE(retry.has_value()) << retry.error().message;
    EXPECT_EQ(retry->version, 1U);
    auto again = run(submit(), "c1");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->kind, outcome_kind::duplicate);
    EXPECT_EQ(again->at, retry->at);
}

// Item 1 and decision 13: a tail that stops after the commit was produced leaves its
// outcome unknown - 504, not 503.
TEST_F(command_handler_test, a_tail_stopping_while_a_commit_is_in_flight_is_timed_out_not_unavailable) {
    log_->hold_apply(true);
    answer a;
    handler_->handle(submit(), meta("c1"), {}, a.callback());
    log_->stop();
    exec_.run();
    ASSERT_TRUE(a.answered());
    ASSERT_FALSE(a.result->has_value());
    EXPECT_EQ(a.error(), command_errc::timed_out);
}

// Item 6: the version another writer reached is waited for, however far behind the tail is.
TEST_F(command_handler_test, an_expected_version_in_the_log_but_not_yet_applied_is_waited_for_not_refused) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    // Another writer (its own handler over the same log) takes the review to version 2;
    // this process's tail has not applied it yet.
    auto theirs = another_writer_edits_unapplied();

    answer ours;
    handler_->handle(edit(5), meta("c2"), {.expected_version = 2}, ours.callback());
    exec_.run();  // asks the brokers where the partition ends, and waits for it
    EXPECT_EQ(log_->log_end_queries(), 1U);
    EXPECT_FALSE(ours.answered());
    clock_.advance(3s);  // longer than any fixed "quiet window"
    EXPECT_EQ(log_->expire(), 0U);
    exec_.run();
    EXPECT_FALSE(ours.answered());

    log_->apply();  // the tail gets there
    exec_.run();    // decides on version 2 and produces
    log_->apply();
    exec_.run();
    other_exec_.run();
    ASSERT_TRUE(ours.answered());
    ASSERT_TRUE(ours.result->has_value()) << ours.result->error().message;
    EXPECT_EQ((*ours.result)->version, 3U);
    ASSERT_TRUE(theirs.edited->answered());
    EXPECT_TRUE(theirs.edited->result->has_value());
}

TEST_F(command_handler_test, an_expected_version_beyond_the_log_is_precondition_failed_after_one_look) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto r = run(edit(5), "c2", {.expected_version = 7});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, command_errc::precondition_failed) << r.error().message;
    EXPECT_EQ(log_->log_end_queries(), 1U);
    EXPECT_EQ(log_->appends(), 1U);
}

TEST_F(command_handler_test, brokers_that_cannot_say_where_the_log_ends_make_it_unavailable) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    log_->fail_log_end_queries("brokers unreachable");
    auto r = run(edit(5), "c2", {.expected_version = 2});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, command_errc::unavailable);
    EXPECT_NE(r.error().message.find("brokers unreachable"), std::string::npos) << r.error().message;
}

TEST_F(command_handler_test, a_deadline_that_passes_before_anything_was_produced_is_unavailable) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto theirs = another_writer_edits_unapplied();
    answer ours;
    handler_->handle(edit(5), meta("c2"), {.expected_version = 2, .timeout = 1s}, ours.callback());
    exec_.run();
    clock_.advance(1s);
    log_->expire();
    exec_.run();
    ASSERT_TRUE(ours.answered());
    ASSERT_FALSE(ours.result->has_value());
    EXPECT_EQ(ours.error(), command_errc::unavailable) << ours.result->error().message;
    EXPECT_EQ(log_->appends(), 2U);  // ours never produced
}

TEST_F(command_handler_test, a_loser_is_decided_again_on_the_executor_and_then_applies) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto theirs = another_writer_edits_unapplied();
    answer ours;
    handler_->handle(edit(3), meta("c2"), {}, ours.callback());  // decided on version 1 too: loses
    EXPECT_EQ(log_->appends(), 3U);
    log_->apply();
    EXPECT_EQ(log_->appends(), 3U) << "the loser was decided again on the tail's thread";
    exec_.run();
    EXPECT_EQ(log_->appends(), 4U);
    log_->apply();
    exec_.run();
    ASSERT_TRUE(ours.answered());
    ASSERT_TRUE(ours.result->has_value()) << ours.result->error().message;
    EXPECT_EQ((*ours.result)->version, 3U);
    EXPECT_EQ((*ours.result)->attempts, 2);
}

TEST_F(command_handler_test, a_loser_with_an_expected_version_is_precondition_failed) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto theirs = another_writer_edits_unapplied();
    answer ours;
    handler_->handle(edit(3), meta("c2"), {.expected_version = 1}, ours.callback());
    log_->apply();
    exec_.run();
    ASSERT_TRUE(ours.answered());
    EXPECT_EQ(ours.error(), command_errc::precondition_failed);
    EXPECT_EQ(log_->appends(), 3U);
}

TEST_F(command_handler_test, commands_on_one_aggregate_run_one_after_another_and_the_next_starts_on_the_executor) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    log_->hold_apply(true);
    answer first;
    answer second;
    handler_->handle(edit(2), meta("c2"), {}, first.callback());
    handler_->handle(edit(3), meta("c3"), {}, second.callback());
    EXPECT_EQ(log_->appends(), 2U) << "the second command started while the first was running";
    log_->apply();
    exec_.run();  // the first answers; the second starts from the executor and produces
    ASSERT_TRUE(first.answered());
    EXPECT_EQ(log_->appends(), 3U);
    log_->apply();
    exec_.run();
    ASSERT_TRUE(second.answered());
    ASSERT_TRUE(second.result->has_value()) << second.result->error().message;
    EXPECT_EQ((*second.result)->version, 3U);
    EXPECT_EQ((*second.result)->attempts, 1);
}

TEST_F(command_handler_test, commands_on_other_aggregates_do_not_wait_for_each_other) {
    log_->hold_apply(true);
    answer a;
    answer b;
    handler_->handle(submit("sku-a"), meta("a"), {}, a.callback());
    handler_->handle(submit("sku-b"), meta("b"), {}, b.callback());
    EXPECT_EQ(log_->appends(), 2U);
    log_->apply();
    exec_.run();
    EXPECT_TRUE(a.answered() && a.result->has_value());
    EXPECT_TRUE(b.answered() && b.result->has_value());
}

// Item 4: once stopped, no thread of the handler calls the appender again.
TEST_F(command_handler_test, a_stopped_handler_never_produces_again_and_answers_what_runs) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto theirs = another_writer_edits_unapplied();
    answer loser;
    answer queued;
    handler_->handle(edit(3), meta("c2"), {}, loser.callback());     // will lose
    handler_->handle(edit(4), meta("c3"), {}, queued.callback());    // queued in the lane
    EXPECT_EQ(log_->appends(), 3U);
    handler_->stop();
    answer late;
    handler_->handle(edit(5), meta("c4"), {}, late.callback());
    ASSERT_TRUE(late.answered());
    EXPECT_EQ(late.error(), command_errc::unavailable);

    log_->apply();  // the loser's verdict arrives after stop()
    exec_.run();
    ASSERT_TRUE(loser.answered());
    EXPECT_EQ(loser.error(), command_errc::unavailable) << loser.result->error().message;
    ASSERT_TRUE(queued.answered());
    EXPECT_EQ(queued.error(), command_errc::unavailable);
    EXPECT_EQ(log_->appends(), 3U) << "a stopped handler produced";
    EXPECT_EQ(loser.calls + queued.calls + late.calls, 3);
}

TEST_F(command_handler_test, an_executor_that_refuses_work_still_gets_every_command_answered) {
    log_->hold_apply(true);
    answer a;
    handler_->handle(submit(), meta("c1"), {}, a.callback());
    handler_->stop();
    exec_.stop();  // posts fail from now on: the tail's callback finishes inline
    log_->apply();
    ASSERT_TRUE(a.answered());
    EXPECT_EQ(a.calls, 1);
}

TEST_F(command_handler_test, a_retry_of_a_command_that_won_is_a_duplicate_with_the_first_answer) {
    auto first = run(submit(), "c1");
    ASSERT_TRUE(first.has_value());
    auto again = run(submit(), "c1");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->kind, outcome_kind::duplicate);
    EXPECT_EQ(again->version, first->version);
    EXPECT_EQ(again->at, first->at);
    EXPECT_EQ(log_->appends(), 1U);
}

// ---- votes: one per customer, decided on the state store's voter index (issue 9) ----

// The count in the state and the voter index beside it.
struct votes_now {
    std::uint64_t count = 0;
    std::vector<eventstore::member_entry> voters;
};
votes_now votes_in(const commands::review_handler& h, const eventstore::state_store& store) {
    auto current = h.current(review_of_sku_1);
    EXPECT_TRUE(current.has_value() && current->has_value());
    auto members = store.members(context::reviews, review_of_sku_1);
    EXPECT_TRUE(members.has_value());
    return {current && *current ? (*current)->state.helpful_count() : 0, members.value_or(std::vector<eventstore::member_entry>{})};
}

std::string generation(std::uint8_t g) { return std::string(7, '\0') + static_cast<char>(g); }

TEST_F(command_handler_test, two_votes_of_one_customer_in_flight_together_count_once) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto theirs = other_handler();
    log_->hold_apply(true);
    answer ours;
    answer second;
    handler_->handle(vote_by("bob"), meta("vote-1"), {}, ours.callback());
    theirs->handle(vote_by("bob"), meta("vote-2"), {}, second.callback());
    // Both decided on version 1, before either applied: neither knew of the other.
    EXPECT_EQ(log_->appends(), 3U);
    log_->apply();  // the log decides: the first wins, the second is a loser
    exec_.run();
    other_exec_.run();
    ASSERT_TRUE(ours.answered() && second.answered());
    ASSERT_TRUE(ours.result->has_value()) << ours.result->error().message;
    EXPECT_EQ((*ours.result)->kind, outcome_kind::applied);
    EXPECT_EQ((*ours.result)->version, 2U);
    // Decided again on version 2, whose voter index holds bob's vote: a repeat, nothing produced.
    ASSERT_TRUE(second.result->has_value()) << second.result->error().message;
    EXPECT_EQ((*second.result)->kind, outcome_kind::unchanged);
    EXPECT_EQ((*second.result)->version, 2U);
    EXPECT_EQ((*second.result)->attempts, 1);
    EXPECT_EQ(log_->appends(), 3U);
    log_->apply();
    const auto now = votes_in(*handler_, *store_);
    EXPECT_EQ(now.count, 1U);
    EXPECT_EQ(now.voters, (std::vector<eventstore::member_entry>{{"bob", generation(1)}}));
}

TEST_F(command_handler_test, a_customer_votes_once_per_submission_of_a_review) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto first = run(vote_by("bob"), "vote-1");
    ASSERT_TRUE(first.has_value()) << first.error().message;
    EXPECT_EQ(first->kind, outcome_kind::applied);
    auto repeat = run(vote_by("bob"), "vote-2");  // a new command, not a retry
    ASSERT_TRUE(repeat.has_value()) << repeat.error().message;
    EXPECT_EQ(repeat->kind, outcome_kind::unchanged);
    EXPECT_EQ(log_->appends(), 2U);

    const review::retract_review retract{domain::review_id{review_of_sku_1}, author(), 4};
    ASSERT_TRUE(run(retract, "c2").has_value());
    auto on_retracted = run(vote_by("carol"), "vote-3");
    ASSERT_FALSE(on_retracted.has_value());
    EXPECT_EQ(on_retracted.error().code, command_errc::rejected);
    EXPECT_EQ(on_retracted.error().rejection.code, domain::rejection_code::conflict);

    ASSERT_TRUE(run(submit(), "c3").has_value());  // resubmitted: generation 2, no votes
    EXPECT_EQ(votes_in(*handler_, *store_).count, 0U);
    auto again = run(vote_by("bob"), "vote-4");
    ASSERT_TRUE(again.has_value()) << again.error().message;
    EXPECT_EQ(again->kind, outcome_kind::applied) << "bob's vote of the retracted review still counted";
    auto repeat_again = run(vote_by("bob"), "vote-5");
    ASSERT_TRUE(repeat_again.has_value());
    EXPECT_EQ(repeat_again->kind, outcome_kind::unchanged);
    const auto now = votes_in(*handler_, *store_);
    EXPECT_EQ(now.count, 1U);
    EXPECT_EQ(now.voters, (std::vector<eventstore::member_entry>{{"bob", generation(2)}}));
}

TEST_F(command_handler_test, a_vote_that_loses_to_a_concurrent_retraction_is_refused_on_the_new_state) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    auto theirs = other_handler();
    log_->hold_apply(true);
    answer retracted;
    answer ours;
    theirs->handle(review::retract_review{domain::review_id{review_of_sku_1}, author(), 4}, meta("c2"), {},
                   retracted.callback());
    handler_->handle(vote_by("bob"), meta("vote-1"), {}, ours.callback());
    EXPECT_EQ(log_->appends(), 3U);
    log_->apply();
    other_exec_.run();
    exec_.run();
    ASSERT_TRUE(retracted.answered() && ours.answered());
    ASSERT_TRUE(retracted.result->has_value());
    ASSERT_FALSE(ours.result->has_value());
    EXPECT_EQ(ours.error(), command_errc::rejected);
    EXPECT_EQ(ours.result->error().rejection.code, domain::rejection_code::conflict);
    const auto now = votes_in(*handler_, *store_);
    EXPECT_EQ(now.count, 0U);
    EXPECT_TRUE(now.voters.empty());
}

TEST_F(command_handler_test, an_unreadable_voter_entry_is_internal_and_nothing_is_appended) {
    ASSERT_TRUE(run(submit(), "c1").has_value());
    {
        auto batch = store_->begin_write();
        ASSERT_TRUE(batch.has_value());
        ASSERT_TRUE(batch->put_member(context::reviews, review_of_sku_1, {"bob", "xyz"}).has_value());
        ASSERT_TRUE(batch->commit().has_value());
    }
    auto r = run(vote_by("bob"), "vote-1");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, command_errc::internal);
    EXPECT_NE(r.error().message.find("side index"), std::string::npos) << r.error().message;
    EXPECT_EQ(log_->appends(), 1U);
    auto other = run(vote_by("carol"), "vote-2");  // other voters are not affected
    ASSERT_TRUE(other.has_value()) << other.error().message;
    EXPECT_EQ(other->kind, outcome_kind::applied);
}

TEST(thread_pool, runs_what_was_queued_before_stop_and_refuses_what_comes_after) {
    commands::thread_pool pool(2);
    std::atomic<int> ran{0};
    std::promise<void> release;
    auto gate = release.get_future().share();
    ASSERT_TRUE(pool.post([&, gate] {
        gate.wait();
        ++ran;
    }));
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.post([&] { ++ran; }));
    std::thread stopper([&] { pool.stop(); });
    release.set_value();
    stopper.join();
    EXPECT_EQ(ran.load(), 11);
    EXPECT_FALSE(pool.post([&] { ++ran; }));
    EXPECT_EQ(ran.load(), 11);
}

}  // namespace
}  // namespace shopstream

namespace shopstream {
namespace {
// Typed ids at the log's interfaces: an aggregate id cannot be passed as a command id or
// the other way round, and neither comes from a bare string without saying which it is.
static_assert(!std::is_convertible_v<eventstore::command_ref, eventstore::aggregate_ref>);
static_assert(!std::is_convertible_v<eventstore::aggregate_ref, eventstore::command_ref>);
static_assert(!std::is_convertible_v<std::string_view, eventstore::aggregate_ref>);
static_assert(!std::is_convertible_v<std::string, eventstore::command_ref>);
static_assert(std::is_invocable_v<decltype(&eventstore::commit_tail::await_verdict), eventstore::commit_tail&,
                                  eventstore::context, eventstore::aggregate_ref, eventstore::command_ref, std::uint64_t,
                                  eventstore::clock::time_point, eventstore::verdict_callback>);
static_assert(!std::is_invocable_v<decltype(&eventstore::commit_tail::await_verdict), eventstore::commit_tail&,
                                   eventstore::context, eventstore::command_ref, eventstore::aggregate_ref, std::uint64_t,
                                   eventstore::clock::time_point, eventstore::verdict_callback>);
}  // namespace
}  // namespace shopstream
