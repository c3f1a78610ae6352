// The saga and the payment gateway worker end to end over the Kafka-protocol cluster: the
// real tail, producer, LMDB state store and command handlers, the co-partitioned consumer
// groups (commands/saga_consumer.hpp) and the deterministic payment simulator behind the
// resilient gateway - every path of issue 12 as the exact event sequence per stream,
// a payment authorized while never-answering ones are still out, a rebalance between two
// saga members, and restarts (a member with no checkpoint at all
// re-decides every step and appends nothing; an overdue deadline fires once after one).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "adapters/payment/provider_port.hpp"
#include "adapters/payment/resilient_gateway.hpp"
#include "adapters/payment/simulator.hpp"
#include "commands/gateway_worker.hpp"
#include "commands/saga.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "tests/support/stream_events.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/tail.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

using namespace std::chrono_literals;
using eventstore::context;
namespace order = domain::order;
namespace pay = adapters::payment;
using names = std::vector<std::string>;

const std::map<std::string, std::string> group_settings = {{"session.timeout.ms", "6000"},
                                                            {"heartbeat.interval.ms", "500"}};

class saga_runtime_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto c = testing::test_kafka::start_with_event_topics(4);
        ASSERT_TRUE(c.has_value()) << c.error();
        kafka_.emplace(std::move(*c));
        auto s = eventstore::state_store::open(dir_.path() / "state",
                                               {std::uint64_t{1} << 30, eventstore::state_store::durability::relaxed});
        ASSERT_TRUE(s.has_value()) << s.error().message;
        store_ = std::move(*s);
        eventstore::tail_options t;
        t.bootstrap_servers = kafka_->bootstrap();
        t.fetch_wait = eventstore::embedded_fetch_wait;
        auto tail = eventstore::tail::start(t, *store_);
        ASSERT_TRUE(tail.has_value()) << tail.error();
        tail_ = std::move(*tail);
        eventstore::producer_options p;
        p.bootstrap_servers = kafka_->bootstrap();
        auto producer = eventstore::producer::start(p);
        ASSERT_TRUE(producer.has_value()) << producer.error();
        producer_ = std::move(*producer);
        orders_ = std::make_unique<commands::order_handler>(commands::store_runtime{*store_, *producer_, *tail_});
        payments_ = std::make_unique<commands::payment_handler>(commands::store_runtime{*store_, *producer_, *tail_});
        resilient_ = std::make_unique<pay::resilient_gateway>(simulator_, pay::retry_policy{2, 10ms, 50ms},
                                                              pay::breaker_settings{0.5, 50, 10s, 1s});
        port_ = std::make_unique<pay::provider_port>(*resilient_, 300ms);
    }

    void TearDown() override {
        stop_saga();
        stop_worker();
        orders_.reset();
        payments_.reset();
        producer_.reset();
        tail_.reset();
        store_.reset();
    }

    void start_saga(const std::string& group = "saga", domain::timestamp_ms timeout_ms = 20'000) {
        commands::saga_options o;
        o.decisions.payment_timeout_ms = timeout_ms;
        o.retry_delay = 200ms;
        engine_ = std::make_unique<commands::saga_engine>(*orders_, *payments_, *tail_, o);
        saga_ = start_member(*engine_, group);
    }

    std::unique_ptr<commands::saga_runtime> start_member(commands::saga_engine& engine, const std::string& group) {
        commands::saga_runtime_options r;
        r.bootstrap_servers = kafka_->bootstrap();
        r.group_id = group;
        r.fetch_wait = eventstore::embedded_fetch_wait;
        r.commit_interval = 50ms;
        r.extra = group_settings;
        auto started = commands::saga_runtime::start(r, engine, *tail_);
        EXPECT_TRUE(started.has_value()) << started.error();
        if (!started) return nullptr;
        // Joined: a deadline shorter than the mock's join delay would otherwise pass unseen.
        EXPECT_TRUE(testing::eventually([&] { return !(*started)->consumer().owned().empty(); }, 30s));
        return std::move(*started);
    }

    void stop_saga() {
        saga_.reset();
        if (engine_) engine_->stop();
        engine_.reset();
    }

    void start_worker(commands::payment_provider* provider = nullptr, commands::gateway_worker_options o = {}) {
        o.retry_delay = 200ms;
        gateway_ = std::make_unique<commands::gateway_engine>(*payments_, *store_, provider ? *provider : *port_, o);
        commands::gateway_worker_runtime_options r;
        r.bootstrap_servers = kafka_->bootstrap();
        r.fetch_wait = eventstore::embedded_fetch_wait;
        r.extra = group_settings;
        auto started = commands::gateway_worker::start(r, *gateway_, *tail_);
        ASSERT_TRUE(started.has_value()) << started.error();
        worker_ = std::move(*started);
    }

    void stop_worker() {
        worker_.reset();
        if (gateway_) gateway_->stop();
        gateway_.reset();
    }

    void place(const std::string& id, const std::string& token, std::int64_t unit_price = 500) {
        const auto now = commands::system_now_ms();
        auto placed = orders_->handle_sync(
            order::place_order{domain::order_id(id), domain::customer_id("c-1"), {{"sku-1", 2, unit_price}}, "EUR",
                               {"c-1", domain::role::customer}, now, token},
            {"place-" + id, "corr-" + id, "", ""});
        ASSERT_TRUE(placed.has_value()) << placed.error().message;
    }

    std::vector<std::string> events(context ctx, const std::string& id) {
        return testing::stream_events(*store_, ctx, id);
    }

    // Waits until the order's and the payment's streams are exactly these.
    void expect_streams(const std::string& id, const names& order_events, const names& payment_events,
                        std::chrono::milliseconds within = 30s) {
        const bool reached = testing::eventually(
            [&] { return events(context::orders, id) == order_events && events(context::payments, id) == payment_events; },
            within);
        EXPECT_TRUE(reached) << id << ": orders " << ::testing::PrintToString(events(context::orders, id))
                             << ", payments " << ::testing::PrintToString(events(context::payments, id));
    }

    std::optional<order::cancel_reason> cancel_reason(const std::string& id) {
        auto o = orders_->current(id);
        return o && *o ? (*o)->state.cancel_reason : std::nullopt;
    }

    // Every record of both topics is in the store: the log is quiet and judged.
    void await_quiet() {
        for (const context c : {context::orders, context::payments}) {
            auto ends = tail_->await_log_end(c, eventstore::clock::now() + 20s);
            ASSERT_TRUE(ends.has_value()) << ends.error();
        }
    }

    std::size_t commits_in_log() {
        std::size_t n = 0;
        for (const context c : {context::orders, context::payments}) {
            for (int p = 0; p < 4; ++p) {
                auto end = tail_->query_log_end(c, eventstore::partition_id(p), 5s);
                if (end) n += static_cast<std::size_t>(end->value());
            }
        }
        return n;
    }

    testing::temp_dir dir_;
    std::optional<testing::test_kafka> kafka_;
    std::unique_ptr<eventstore::state_store> store_;
    std::unique_ptr<eventstore::tail> tail_;
    std::unique_ptr<eventstore::producer> producer_;
    std::unique_ptr<commands::order_handler> orders_;
    std::unique_ptr<commands::payment_handler> payments_;
    pay::simulator simulator_;
    std::unique_ptr<pay::resilient_gateway> resilient_;
    std::unique_ptr<pay::provider_port> port_;
    std::unique_ptr<commands::saga_engine> engine_;
    std::unique_ptr<commands::saga_runtime> saga_;
    std::unique_ptr<commands::gateway_engine> gateway_;
    std::unique_ptr<commands::gateway_worker> worker_;
};

const names happy_orders{"order_placed", "order_confirmed", "order_payment_captured"};
const names happy_payments{"payment_requested", "payment_authorized", "payment_captured"};

TEST_F(saga_runtime_test, every_token_reaches_its_terminal_state_with_the_exact_events_and_the_provider_agrees) {
    start_worker();
    start_saga("saga", 4'000);
    place("o-visa", "tok_visa");
    place("o-declined", "tok_declined");
    place("o-poor", "tok_insufficient_funds", 6'000);  // 12 000 > the simulator's 10 000
    place("o-rich", "tok_insufficient_funds", 100);
    place("o-flaky", "tok_flaky_3");
    place("o-timeout", "tok_timeout");

    expect_streams("o-visa", happy_orders, happy_payments);
    expect_streams("o-rich", happy_orders, happy_payments);
    expect_streams("o-flaky", happy_orders, happy_payments);
    expect_streams("o-declined", {"order_placed", "order_cancelled"}, {"payment_requested", "payment_declined"});
    expect_streams("o-poor", {"order_placed", "order_cancelled"}, {"payment_requested", "payment_declined"});
    expect_streams("o-timeout", {"order_placed", "order_cancelled"}, {"payment_requested"});
    EXPECT_EQ(cancel_reason("o-declined"), order::cancel_reason::payment_declined);
    EXPECT_EQ(cancel_reason("o-timeout"), order::cancel_reason::payment_timeout);

    // Money moved at the provider as the log says, once.
    EXPECT_TRUE(testing::eventually([&] {
        auto l = simulator_.ledger(domain::payment_id("o-visa"));
        return l && l->captured == 1'000;
    }, 10s));
    EXPECT_EQ(simulator_.ledger(domain::payment_id("o-visa"))->authorized, 1'000);
    EXPECT_FALSE(simulator_.ledger(domain::payment_id("o-timeout")).has_value() &&
                 simulator_.ledger(domain::payment_id("o-timeout"))->authorized != 0);
}

// Issue 12: with the provider calls on 8 blocking threads, 1 in 6 payments never answering
// starved every other one. Now a call waiting for its answer holds no thread: with 12
// never-answering authorizations out (more than the old pool's 8 threads) and ONE worker
// thread, a tok_visa payment requested after them is authorized, captured and confirmed
// while every one of them is still waiting for its answer.
TEST_F(saga_runtime_test, a_payment_requested_after_never_answering_ones_is_authorized_before_their_timeout) {
    pay::resilient_gateway patient(simulator_, pay::retry_policy{1, 10ms, 10ms}, pay::breaker_settings{0.5, 50, 10s, 1s});
    pay::provider_port port(patient, 8s);
    commands::gateway_worker_options o;
    o.threads = 1;
    start_worker(&port, o);
    start_saga("saga", 60'000);
    const int never = 12;
    for (int i = 0; i < never; ++i) place("o-never-" + std::to_string(i), "tok_timeout");
    ASSERT_TRUE(testing::eventually([&] { return gateway_->in_flight() >= static_cast<std::size_t>(never); }, 20s))
        << "in flight: " << gateway_->in_flight();
    const auto asked = std::chrono::steady_clock::now();
    place("o-visa", "tok_visa");
    expect_streams("o-visa", happy_orders, happy_payments, 7s);
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 8s) << "before the never-answering calls' timeout";
    for (int i = 0; i < never; ++i) {
        EXPECT_EQ(events(context::payments, "o-never-" + std::to_string(i)), names{"payment_requested"})
            << "still waiting for its answer";
    }
    EXPECT_GE(gateway_->in_flight(), static_cast<std::size_t>(never)) << "their calls are still out";
    // The port and its gateway are this test's: the worker waits for their calls first.
    stop_saga();
    stop_worker();
}

// Beyond max_in_flight a record waits, unsent, in arrival order: with both slots held by
// never-answering calls, a tok_visa payment is queued and not authorized until a slot frees
// (the first call's timeout), then it is.
TEST_F(saga_runtime_test, beyond_the_bound_in_flight_a_payment_waits_in_the_queue_until_a_call_ends) {
    pay::resilient_gateway once(simulator_, pay::retry_policy{1, 10ms, 10ms}, pay::breaker_settings{0.5, 50, 10s, 1s});
    pay::provider_port port(once, 3s);
    commands::gateway_worker_options o;
    o.max_in_flight = 2;
    start_worker(&port, o);
    start_saga("saga", 60'000);
    place("o-never-0", "tok_timeout");
    place("o-never-1", "tok_timeout");
    ASSERT_TRUE(testing::eventually([&] { return gateway_->in_flight() == 2; }, 20s));
    const auto asked = std::chrono::steady_clock::now();
    place("o-visa", "tok_visa");
    ASSERT_TRUE(testing::eventually([&] { return gateway_->queued() >= 1; }, 10s)) << "the bound holds it";
    EXPECT_EQ(gateway_->in_flight(), 2U);
    EXPECT_EQ(events(context::payments, "o-visa"), names{"payment_requested"}) << "not authorized while queued";
    expect_streams("o-visa", happy_orders, happy_payments, 20s);
    EXPECT_GE(std::chrono::steady_clock::now() - asked, 2s) << "it waited for a never-answering call to end";
    stop_saga();
    stop_worker();
}

TEST_F(saga_runtime_test, a_cancellation_after_capture_is_refunded_at_the_provider_too) {
    start_worker();
    start_saga();
    place("o-1", "tok_visa", 700);
    expect_streams("o-1", happy_orders, happy_payments);
    auto cancelled = orders_->handle_sync(
        order::cancel_order{domain::order_id("o-1"), {"c-1", domain::role::customer}, commands::system_now_ms()},
        {"cancel-o-1", "corr-cancel", "", ""});
    ASSERT_TRUE(cancelled.has_value()) << cancelled.error().message;
    expect_streams("o-1", {"order_placed", "order_confirmed", "order_payment_captured", "order_cancelled"},
                   {"payment_requested", "payment_authorized", "payment_captured", "payment_refunded"});
    EXPECT_TRUE(testing::eventually([&] {
        auto l = simulator_.ledger(domain::payment_id("o-1"));
        return l && l->refunded == 1'400;
    }, 10s));
}

TEST_F(saga_runtime_test, a_member_with_no_checkpoint_re_decides_every_step_and_appends_nothing) {
    start_worker();
    start_saga("saga");
    for (int i = 0; i < 20; ++i) place("o-" + std::to_string(i), i % 3 == 0 ? "tok_declined" : "tok_visa");
    for (int i = 0; i < 20; ++i) {
        const std::string id = "o-" + std::to_string(i);
        if (i % 3 == 0) {
            expect_streams(id, {"order_placed", "order_cancelled"}, {"payment_requested", "payment_declined"});
        } else {
            expect_streams(id, happy_orders, happy_payments);
        }
    }
    stop_saga();
    await_quiet();
    const std::size_t before = commits_in_log();
    // As if the saga had crashed after every step and before any checkpoint: a group that
    // committed nothing reads both logs from the start and decides every step again.
    start_saga("saga-fresh");
    ASSERT_TRUE(testing::eventually([&] {
        const auto s = saga_->consumer().stats();
        return s.records >= static_cast<std::int64_t>(before) && s.in_flight == 0;
    }, 30s)) << saga_->consumer().stats().records << " of " << before;
    await_quiet();
    EXPECT_EQ(commits_in_log(), before) << "every repeated step was a duplicate or unchanged, never a new commit";
    for (int i = 1; i < 20; i += 3) expect_streams("o-" + std::to_string(i), happy_orders, happy_payments, 1s);
}

TEST_F(saga_runtime_test, an_overdue_deadline_fires_once_after_a_restart) {
    // No gateway worker: the payment is never answered.
    start_saga("saga", 3'000);
    const auto placed = commands::system_now_ms();
    place("o-late", "tok_visa");
    expect_streams("o-late", {"order_placed"}, {"payment_requested"});
    stop_saga();  // before the deadline: it is held in the group's checkpoint, not lost
    // Past the deadline with no saga running.
    ASSERT_TRUE(testing::eventually([&] { return commands::system_now_ms() > placed + 3'300; }, 5s));
    EXPECT_EQ(events(context::orders, "o-late"), names{"order_placed"});
    start_saga("saga", 3'000);
    expect_streams("o-late", {"order_placed", "order_cancelled"}, {"payment_requested"});
    EXPECT_EQ(cancel_reason("o-late"), order::cancel_reason::payment_timeout);
    stop_saga();
    start_saga("saga-fresh", 3'000);  // and again, from no checkpoint at all
    ASSERT_TRUE(testing::eventually([&] { return saga_->consumer().stats().records >= 3; }, 20s));
    await_quiet();
    EXPECT_EQ(events(context::orders, "o-late"), (names{"order_placed", "order_cancelled"}));
}

TEST_F(saga_runtime_test, two_members_split_the_partitions_co_partitioned_and_one_takes_over_from_the_other) {
    start_worker();
    commands::saga_options o;
    commands::saga_engine first_engine(*orders_, *payments_, *tail_, o);
    commands::saga_engine second_engine(*orders_, *payments_, *tail_, o);
    auto first = start_member(first_engine, "saga-pair");
    auto second = start_member(second_engine, "saga-pair");
    ASSERT_TRUE(first && second);
    const auto split = [&] { return !first->consumer().owned().empty() && !second->consumer().owned().empty(); };
    ASSERT_TRUE(testing::eventually(split, 30s)) << "both members own partitions";
    std::set<commands::owned_partition> all;
    for (const auto* member : {first.get(), second.get()}) {
        std::set<int> orders_parts;
        std::set<int> payments_parts;
        for (const auto& p : member->consumer().owned()) {
            EXPECT_TRUE(all.insert(p).second) << "owned twice: partition " << p.partition.value();
            (p.ctx == context::orders ? orders_parts : payments_parts).insert(p.partition.value());
        }
        EXPECT_EQ(orders_parts, payments_parts) << "partition p of orders.events with partition p of payments.events";
    }
    EXPECT_EQ(all.size(), 8U);
    for (int i = 0; i < 12; ++i) place("o-" + std::to_string(i), "tok_visa");
    for (int i = 0; i < 12; ++i) expect_streams("o-" + std::to_string(i), happy_orders, happy_payments);

    second.reset();  // leaves the group: the first takes every partition
    ASSERT_TRUE(testing::eventually([&] { return first->consumer().owned().size() == 8U; }, 30s));
    for (int i = 12; i < 20; ++i) place("o-" + std::to_string(i), "tok_visa");
    for (int i = 12; i < 20; ++i) expect_streams("o-" + std::to_string(i), happy_orders, happy_payments);
    first.reset();
}

}  // namespace
}  // namespace shopstream
