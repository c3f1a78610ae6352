// The saga engine (commands/saga.hpp) against the in-memory twin of the log: every path of
// issue 12 as the exact event sequence of the order's and the payment's streams, with the
// gateway's answers recorded by hand (record_authorization) the way the worker records
// them. The same engine behind Kafka is in tests/integration/saga_runtime_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "commands/saga.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "tests/support/stream_events.hpp"
#include "eventstore/memory_log.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

using eventstore::context;
namespace order = domain::order;
namespace payment = domain::payment;
namespace saga = domain::saga;

constexpr domain::timestamp_ms placed_at = 1'700'000'000'000;

class counting_observer final : public commands::saga_observer {
public:
    void on_step(const domain::order_id&, saga::step, std::string_view outcome) noexcept override {
        if (outcome == "applied") ++applied;
    }
    void on_stage(saga::stage s) noexcept override {
        if (s == saga::stage::completed) ++completed;
    }
    std::atomic<int> applied{0};
    std::atomic<int> completed{0};
};

class saga_engine_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = eventstore::state_store::open(dir_.path() / "state",
                                               {std::uint64_t{1} << 28, eventstore::state_store::durability::relaxed});
        ASSERT_TRUE(s.has_value()) << s.error().message;
        store_ = std::move(*s);
        log_ = std::make_unique<eventstore::memory_log>(*store_, eventstore::steady_clock_source());
        orders_ = std::make_unique<commands::order_handler>(runtime());
        payments_ = std::make_unique<commands::payment_handler>(runtime());
        commands::saga_options options;
        options.decisions.payment_timeout_ms = 30'000;
        options.observer = &observer_;
        options.now = [this] { return now_.load(); };
        engine_ = std::make_unique<commands::saga_engine>(*orders_, *payments_, *log_, options);
    }
    void TearDown() override {
        engine_.reset();
        orders_.reset();
        payments_.reset();
        log_.reset();
        store_.reset();
    }

    commands::store_runtime runtime() { return {*store_, *log_, *log_}; }

    void place(const std::string& id, const std::string& token, std::int64_t unit_price = 500) {
        auto placed = orders_->handle_sync(
            order::place_order{domain::order_id(id), domain::customer_id("c-1"), {{"sku-1", 2, unit_price}}, "EUR",
                               {"c-1", domain::role::customer}, placed_at, token},
            {"place-" + id, "corr-" + id, "", ""});
        ASSERT_TRUE(placed.has_value()) << placed.error().message;
    }

    void answer(const std::string& id, bool approved) {
        payment::record_authorization r;
        r.id = domain::payment_id(id);
        r.approved = approved;
        r.authorization_code = "auth-1";
        r.decline_reason = "card_declined";
        r.by = {"payment-gateway", domain::role::system};
        r.at = now_.load();
        auto recorded = payments_->handle_sync(r, {"gateway:" + id + ":authorize", "corr-" + id, "", ""});
        ASSERT_TRUE(recorded.has_value()) << recorded.error().message;
    }

    void cancel(const std::string& id) {
        auto cancelled = orders_->handle_sync(
            order::cancel_order{domain::order_id(id), {"c-1", domain::role::customer}, now_.load()},
            {"cancel-" + id, "corr-" + id, "", ""});
        ASSERT_TRUE(cancelled.has_value()) << cancelled.error().message;
    }

    commands::saga_reaction react(const std::string& id) {
        return engine_->react_sync(domain::order_id(id), {"corr-" + id, ""});
    }

    // The event names of one stream, in version order, from the commits the store applied.
    std::vector<std::string> events(context ctx, const std::string& id) {
        return testing::stream_events(*store_, ctx, id);
    }

    std::optional<order::cancel_reason> cancel_reason(const std::string& id) {
        auto o = orders_->current(id);
        return o && *o ? (*o)->state.cancel_reason : std::nullopt;
    }

    using names = std::vector<std::string>;

    testing::temp_dir dir_;
    std::unique_ptr<eventstore::state_store> store_;
    std::unique_ptr<eventstore::memory_log> log_;
    std::unique_ptr<commands::order_handler> orders_;
    std::unique_ptr<commands::payment_handler> payments_;
    counting_observer observer_;
    std::atomic<domain::timestamp_ms> now_{placed_at + 10};
    std::unique_ptr<commands::saga_engine> engine_;
};

TEST_F(saga_engine_test, the_happy_path_requests_confirms_captures_and_records_the_capture) {
    place("o-1", "tok_visa");
    auto first = react("o-1");
    EXPECT_EQ(first.stage, saga::stage::authorizing);
    ASSERT_TRUE(first.wake_at.has_value()) << "a payment deadline is due";
    EXPECT_EQ(*first.wake_at, placed_at + 30'000);
    EXPECT_EQ(events(context::payments, "o-1"), names{"payment_requested"});

    answer("o-1", true);
    auto done = react("o-1");
    EXPECT_EQ(done.stage, saga::stage::completed);
    EXPECT_FALSE(done.wake_at.has_value());
    EXPECT_TRUE(done.settled);
    EXPECT_EQ(done.steps, 3);
    EXPECT_EQ(events(context::orders, "o-1"), (names{"order_placed", "order_confirmed", "order_payment_captured"}));
    EXPECT_EQ(events(context::payments, "o-1"), (names{"payment_requested", "payment_authorized", "payment_captured"}));
    EXPECT_EQ(observer_.applied.load(), 4);
    EXPECT_EQ(observer_.completed.load(), 1);
}

TEST_F(saga_engine_test, reacting_again_to_a_finished_saga_appends_nothing) {
    place("o-1", "tok_visa");
    (void)react("o-1");
    answer("o-1", true);
    (void)react("o-1");
    const auto appends = log_->appends();
    for (int i = 0; i < 3; ++i) {
        auto again = react("o-1");
        EXPECT_EQ(again.stage, saga::stage::completed);
        EXPECT_EQ(again.steps, 0);
    }
    EXPECT_EQ(log_->appends(), appends);
    EXPECT_EQ(events(context::orders, "o-1").size(), 3U);
}

TEST_F(saga_engine_test, a_step_taken_twice_is_a_duplicate_the_rule_ignores) {
    place("o-1", "tok_visa");
    // A second saga process issuing the same step on the same state: the same command id.
    const auto d = saga::decide(orders_->current("o-1")->value().state, payment::initial_state(), now_.load());
    ASSERT_EQ(d.commands.size(), 1U);
    const auto& step = d.commands.front();
    auto first = payments_->handle_sync(std::get<payment::request_payment>(step.command), {step.id.value(), "", "", ""});
    ASSERT_TRUE(first.has_value());
    auto again = react("o-1");
    EXPECT_EQ(again.stage, saga::stage::authorizing);
    EXPECT_EQ(events(context::payments, "o-1"), names{"payment_requested"});
}

TEST_F(saga_engine_test, a_declined_payment_rejects_the_order) {
    place("o-1", "tok_declined");
    (void)react("o-1");
    answer("o-1", false);
    auto done = react("o-1");
    EXPECT_EQ(done.stage, saga::stage::compensated);
    EXPECT_EQ(events(context::orders, "o-1"), (names{"order_placed", "order_cancelled"}));
    EXPECT_EQ(events(context::payments, "o-1"), (names{"payment_requested", "payment_declined"}));
    EXPECT_EQ(cancel_reason("o-1"), order::cancel_reason::payment_declined);
}

TEST_F(saga_engine_test, no_answer_by_the_deadline_times_the_order_out_and_a_late_authorization_is_voided) {
    place("o-1", "tok_timeout");
    auto waiting = react("o-1");
    ASSERT_TRUE(waiting.wake_at.has_value());
    now_ = *waiting.wake_at - 1;
    EXPECT_EQ(react("o-1").stage, saga::stage::authorizing) << "not due yet";
    EXPECT_EQ(events(context::orders, "o-1"), names{"order_placed"});

    now_ = *waiting.wake_at;
    auto timed_out = react("o-1");
    EXPECT_EQ(timed_out.stage, saga::stage::compensating) << "the payment is still requested";
    EXPECT_FALSE(timed_out.wake_at.has_value());
    EXPECT_EQ(events(context::orders, "o-1"), (names{"order_placed", "order_cancelled"}));
    EXPECT_EQ(cancel_reason("o-1"), order::cancel_reason::payment_timeout);
    EXPECT_EQ(react("o-1").steps, 0) << "an overdue deadline fires once";

    now_ = now_.load() + 5'000;
    answer("o-1", true);  // the gateway answers after all
    auto voided = react("o-1");
    EXPECT_EQ(voided.stage, saga::stage::compensated);
    EXPECT_EQ(events(context::payments, "o-1"), (names{"payment_requested", "payment_authorized", "payment_voided"}));
    EXPECT_EQ(events(context::orders, "o-1"), (names{"order_placed", "order_cancelled"}));
}

TEST_F(saga_engine_test, an_authorization_recorded_after_the_deadline_but_before_the_saga_saw_it_is_voided) {
    place("o-1", "tok_visa");
    (void)react("o-1");
    now_ = placed_at + 31'000;
    answer("o-1", true);  // recorded late: judged by its own time
    auto done = react("o-1");
    EXPECT_EQ(done.stage, saga::stage::compensated);
    EXPECT_EQ(events(context::orders, "o-1"), (names{"order_placed", "order_cancelled"}));
    EXPECT_EQ(cancel_reason("o-1"), order::cancel_reason::payment_timeout);
    EXPECT_EQ(events(context::payments, "o-1"), (names{"payment_requested", "payment_authorized", "payment_voided"}));
}

TEST_F(saga_engine_test, an_order_cancelled_by_its_customer_before_confirmation_has_its_authorization_voided) {
    place("o-1", "tok_visa");
    (void)react("o-1");
    answer("o-1", true);
    cancel("o-1");  // before the saga confirms
    auto done = react("o-1");
    EXPECT_EQ(done.stage, saga::stage::compensated);
    EXPECT_EQ(events(context::orders, "o-1"), (names{"order_placed", "order_cancelled"}));
    EXPECT_EQ(cancel_reason("o-1"), order::cancel_reason::customer_request);
    EXPECT_EQ(events(context::payments, "o-1"), (names{"payment_requested", "payment_authorized", "payment_voided"}));
}

TEST_F(saga_engine_test, an_order_cancelled_after_capture_is_refunded_the_captured_amount) {
    place("o-1", "tok_visa", 700);
    (void)react("o-1");
    answer("o-1", true);
    ASSERT_EQ(react("o-1").stage, saga::stage::completed);
    cancel("o-1");
    auto done = react("o-1");
    EXPECT_EQ(done.stage, saga::stage::compensated);
    EXPECT_EQ(events(context::payments, "o-1"),
              (names{"payment_requested", "payment_authorized", "payment_captured", "payment_refunded"}));
    auto p = payments_->current("o-1");
    ASSERT_TRUE(p && *p);
    EXPECT_EQ((*p)->state.refunded, 1'400);
    EXPECT_EQ(react("o-1").steps, 0) << "refunded once";
}

TEST_F(saga_engine_test, a_step_the_log_refuses_is_retried_later_and_nothing_else_happens) {
    place("o-1", "tok_visa");
    log_->inject(eventstore::append_fault::not_persisted);
    auto failed = react("o-1");
    EXPECT_FALSE(failed.settled);
    ASSERT_TRUE(failed.wake_at.has_value());
    EXPECT_EQ(*failed.wake_at, now_.load() + 1'000);
    EXPECT_TRUE(events(context::payments, "o-1").empty());
    auto again = react("o-1");
    EXPECT_TRUE(again.settled);
    EXPECT_EQ(events(context::payments, "o-1"), names{"payment_requested"});
}

TEST_F(saga_engine_test, an_order_that_does_not_exist_gets_no_step) {
    auto r = react("o-missing");
    EXPECT_EQ(r.stage, saga::stage::not_started);
    EXPECT_EQ(r.steps, 0);
    EXPECT_EQ(log_->appends(), 0U);
}

TEST_F(saga_engine_test, concurrent_triggers_of_one_order_are_coalesced_and_each_answered) {
    place("o-1", "tok_visa");
    std::atomic<int> answered{0};
    for (int i = 0; i < 20; ++i) {
        engine_->react(domain::order_id("o-1"), {"corr-o-1", ""}, [&answered](commands::saga_reaction) { ++answered; });
    }
    engine_->stop();
    EXPECT_EQ(answered.load(), 20);
    EXPECT_EQ(events(context::payments, "o-1"), names{"payment_requested"});
}

}  // namespace
}  // namespace shopstream
