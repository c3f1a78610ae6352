// The event store under faults of a REAL three-broker Apache Kafka cluster
// (tests/support/kafka_cluster.hpp), every run checked by the history checker
// (tests/support/history_checker.hpp):
//   leader killed     SIGKILL the broker leading most reviews partitions while clients
//                     stream votes: every acknowledged command applied exactly once, none
//                     twice, per-aggregate order kept, and commands succeed again within a
//                     measured and asserted bound;
//   paused broker     SIGSTOP the leader until the controller fenced it (longer than the
//                     broker session timeout), then SIGCONT: nothing acknowledged lost,
//                     nothing applied twice;
//   whole cluster     all three SIGKILLed and restarted on their log dirs: the writer goes
//                     on, and its state store, reopened, resumes from its checkpoints and
//                     equals a fresh replay.
// Two `serve` writers racing over the real cluster are in tests/e2e/serve_test.cpp
// (serve_kafka).
//
// Sized for CI (a few hundred commands per test). SHOPSTREAM_KAFKA_FAULTS_LONG=1 runs the
// full sizes (40 aggregates x 100 votes each) for a long run.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "commands/command_handler.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/tail.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/history_checker.hpp"
#include "tests/support/kafka_cluster.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
namespace es = eventstore;
namespace review = domain::review;
using steady = std::chrono::steady_clock;

constexpr int partitions = 4;
constexpr es::context ctx = es::context::reviews;
const std::string topic(es::topic_of(ctx));

bool long_run() {
    const char* v = std::getenv("SHOPSTREAM_KAFKA_FAULTS_LONG");
    return v != nullptr && std::string_view(v) == "1";
}
int aggregates() { return long_run() ? 40 : 12; }
int votes_per_aggregate() { return long_run() ? 100 : 24; }

// librdkafka reaches a broker back quickly after a fault (its default backoff grows to 10 s).
std::map<std::string, std::string> client_settings() {
    return {{"broker.address.family", "v4"},
            {"reconnect.backoff.ms", "50"},
            {"reconnect.backoff.max.ms", "500"},
            {"log.connection.close", "false"}};
}

// One process's event store on the cluster: state store, tail and producer.
struct writer {
    std::unique_ptr<es::state_store> store;
    std::unique_ptr<es::tail> tail;
    std::unique_ptr<es::producer> producer;

    static result<writer, std::string> open(const std::filesystem::path& dir, const std::string& bootstrap) {
        writer w;
        auto s = es::state_store::open(dir, {std::uint64_t{1} << 30, es::state_store::durability::relaxed});
        if (!s) return fail("store: " + s.error().message);
        w.store = std::move(*s);
        es::tail_options t;
        t.bootstrap_servers = bootstrap;
        t.contexts = {ctx};
        t.extra = client_settings();
        auto tail = es::tail::start(t, *w.store);
        if (!tail) return fail("tail: " + tail.error().message);
        w.tail = std::move(*tail);
        es::producer_options p;
        p.bootstrap_servers = bootstrap;
        p.contexts = {ctx};
        p.extra = client_settings();
        auto producer = es::producer::start(p);
        if (!producer) return fail("producer: " + producer.error().message);
        w.producer = std::move(*producer);
        return w;
    }
    [[nodiscard]] commands::store_runtime runtime() { return {*store, *producer, *tail}; }
    void stop() {
        producer.reset();
        tail.reset();
        store.reset();
    }
};

std::string review_of(int k) {
    return review::review_id_for("sku-" + std::to_string(k), domain::customer_id("author-" + std::to_string(k))).value();
}

// Clients, one per aggregate, each sending its commands one after another and retrying a
// command with the same id until it is answered 2xx (what a client with an
// Idempotency-Key does after a 503 or 504); every attempt recorded.
class clients {
public:
    clients(const commands::review_handler& handler, history_recorder& history) : handler_(handler), history_(history) {}
    ~clients() { join(); }

    // Starts the clients: aggregate k gets a submission (unless it exists), then `votes` votes.
    void start(int first_aggregate, int count, int votes, const std::string& round, bool submit = true) {
        for (int k = first_aggregate; k < first_aggregate + count; ++k) {
            threads_.emplace_back([this, k, votes, round, submit] {
                const domain::actor author{"author-" + std::to_string(k), domain::role::customer};
                if (submit && !until_2xx(k, round + "submit-" + std::to_string(k),
                               review::submit_review{"sku-" + std::to_string(k), domain::customer_id(author.id), 4,
                                                     "Title", "Body", author, 1})) {
                    return;
                }
                for (int j = 0; j < votes; ++j) {
                    const std::string voter = round + "voter-" + std::to_string(k) + "-" + std::to_string(j);
                    if (!until_2xx(k, round + "vote-" + std::to_string(k) + "-" + std::to_string(j),
                                   review::vote_helpful{domain::review_id(review_of(k)),
                                                        {voter, domain::role::customer}, 10 + j})) {
                        return;
                    }
                }
            });
        }
    }
    void join() {
        for (auto& t : threads_) t.join();
        threads_.clear();
    }
    // Waits until `n` commands were answered 2xx in all.
    [[nodiscard]] bool await_acknowledged(int n, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return acknowledged_ >= n; });
    }
    [[nodiscard]] int gave_up() const { return gave_up_.load(); }

private:
    bool until_2xx(int k, const std::string& id, review::command command) {
        commands::command_options o;
        o.timeout = 3s;
        o.max_attempts = 100;
        for (int attempt = 0; attempt < 60; ++attempt) {
            const auto ticket = history_.sent({ctx, review_of(k), id, id, "handle " + id});
            const auto r = handler_.handle_sync(command, {id, "kafka-faults", "", ""}, o);
            const auto answer = answer_of(r);
            history_.answered(ticket, answer);
            if (answer.status / 100 == 2) {
                std::lock_guard lock(mu_);
                ++acknowledged_;
                cv_.notify_all();
                return true;
            }
        }
        ++gave_up_;
        return false;
    }

    const commands::review_handler& handler_;
    history_recorder& history_;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    int acknowledged_ = 0;
    std::atomic<int> gave_up_{0};
};

// How long after `fault` every aggregate had a command sent after it answered 2xx: the
// time until commands succeed again everywhere.
std::chrono::milliseconds recovery_after(const std::vector<recorded_attempt>& attempts, steady::time_point fault) {
    std::map<std::string, steady::time_point> first_success;
    std::set<std::string> all;
    for (const auto& a : attempts) {
        if (a.sent_at < fault) continue;
        all.insert(a.command.aggregate_id);
        if (!a.answer || a.answer->status / 100 != 2) continue;
        auto [it, fresh] = first_success.try_emplace(a.command.aggregate_id, a.answered_at);
        if (!fresh) it->second = std::min(it->second, a.answered_at);
    }
    if (first_success.size() != all.size()) return std::chrono::milliseconds::max();
    steady::time_point last = fault;
    for (const auto& [id, at] : first_success) last = std::max(last, at);
    return std::chrono::duration_cast<std::chrono::milliseconds>(last - fault);
}

class kafka_faults : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            cluster_ = &shared_kafka_cluster();
        } catch (const std::exception& e) {
            FAIL() << e.what();
        }
        std::vector<topic_spec> topics = default_topics();
        for (auto& t : topics) t.partitions = partitions;
        auto reset = cluster_->reset_topics(topics);
        if (!reset) {  // seen once after the pause test: a new topic not listed within 60 s
            std::cout << "[ reset    ] " << reset.error() << "; again\n";
            reset = cluster_->reset_topics(topics);
        }
        ASSERT_TRUE(reset.has_value()) << reset.error();
        // reset_topics waits for the event topics only; a tail starting while the identity
        // topic's leadership still settles is refused ("Not leader for partition").
        auto identity = cluster_->await_fully_replicated(std::string(es::identity_topic));
        ASSERT_TRUE(identity.has_value()) << identity.error();
        // On a cluster just started, the first read of the identity topic can still meet
        // "Not leader for partition" (the tail's start does not retry it; reported to the
        // lead): start again, bounded.
        auto w = writer::open(dir_.path() / "state", cluster_->bootstrap());
        for (int attempt = 0; !w && attempt < 20; ++attempt) {
            std::cout << "[ start    ] " << w.error() << "; again\n";
            std::this_thread::sleep_for(500ms);  // between start attempts
            w = writer::open(dir_.path() / "state", cluster_->bootstrap());
        }
        ASSERT_TRUE(w.has_value()) << w.error();
        writer_.emplace(std::move(*w));
    }
    void TearDown() override {
        if (writer_) writer_->stop();
        // Leave every broker running for the next test.
        if (cluster_ == nullptr) return;
        std::vector<int> restarted;
        for (int id = 1; id <= cluster_->broker_count(); ++id) {
            auto& b = cluster_->broker(id);
            if (b.paused()) {
                EXPECT_TRUE(cluster_->resume(id).has_value());
            }
            if (!b.running()) {  // all first, then wait: a lone node waits for a quorum
                EXPECT_TRUE(b.restart(false).has_value()) << "node " << id;
                restarted.push_back(id);
            }
        }
        for (const int id : restarted) {
            auto ready = cluster_->broker(id).wait_ready(120s);
            EXPECT_TRUE(ready.has_value()) << "node " << id << ": " << ready.error().message;
        }
    }

    // The broker leading most partitions of the reviews topic.
    int busiest_leader() {
        std::map<int, int> led;
        for (int p = 0; p < partitions; ++p) {
            auto leader = cluster_->leader_of(topic, eventstore::partition_id(p));
            EXPECT_TRUE(leader.has_value()) << leader.error();
            if (leader) ++led[*leader];
        }
        int best = 1;
        for (const auto& [id, n] : led) {
            if (n > led[best]) best = id;
        }
        return best;
    }

    // Waits until no partition of the topic is led by `node` (the controller fenced it).
    [[nodiscard]] bool leadership_moved_off(int node, std::chrono::milliseconds timeout) {
        return testing::eventually(
            [&] {
                for (int p = 0; p < partitions; ++p) {
                    auto leader = cluster_->leader_of(topic, eventstore::partition_id(p), 2s);
                    if (!leader.has_value() || *leader == node) return false;
                }
                return true;
            },
            timeout, 100ms);
    }

    // The checker over everything recorded, the writer's store and a fresh replay.
    history_report expect_history_holds_on_cluster(std::vector<const es::state_store*> stores) {
        auto fresh = catch_up_store(dir_.path() / "fresh", cluster_->bootstrap(), {ctx}, 60s);
        EXPECT_TRUE(fresh.has_value()) << fresh.error();
        if (!fresh) return {};
        stores.push_back(fresh->store.get());
        history_input in;
        in.attempts = history_.attempts();
        in.stores = std::move(stores);
        in.all_writers_recorded = true;
        auto report = expect_history_holds(cluster_->bootstrap(), {ctx}, std::move(in));
        EXPECT_GT(report.counts.ok, 0);
        return report;
    }

    kafka_cluster* cluster_ = nullptr;
    temp_dir dir_{"kafka-faults"};
    std::optional<writer> writer_;
    history_recorder history_;
};

TEST_F(kafka_faults, a_leader_killed_mid_stream_loses_no_acknowledged_command_and_writes_resume_in_bounded_time) {
    const commands::review_handler handler(writer_->runtime());
    const int total = aggregates() * (votes_per_aggregate() + 1);
    const int victim = busiest_leader();
    clients load(handler, history_);
    load.start(0, aggregates(), votes_per_aggregate(), "");
    ASSERT_TRUE(load.await_acknowledged(total / 3, 120s)) << "the load did not get going";

    const auto killed_at = steady::now();
    cluster_->kill(victim);
    load.join();
    EXPECT_EQ(load.gave_up(), 0) << "commands never succeeded after the kill";
    EXPECT_TRUE(leadership_moved_off(victim, 30s)) << "node " << victim << " still leads after its death";

    const auto recovery = recovery_after(history_.attempts(), killed_at);
    std::cout << "[ recovery ] node " << victim << " SIGKILLed: every aggregate answered 2xx again within "
              << recovery.count() << " ms\n";
    // The controller fences a dead broker after broker.session.timeout.ms (9 s by default)
    // and elects new leaders; clients then find them on their next metadata refresh.
    EXPECT_LE(recovery, 30s) << "writes did not resume within the bound";

    const auto report = expect_history_holds_on_cluster({writer_->store.get()});
    EXPECT_EQ(report.counts.ok_applied_once, report.counts.ok);
    EXPECT_EQ(report.counts.applied, total) << "every command applied once, and nothing else";
    EXPECT_GT(report.counts.ordered_kept, 0);
}

TEST_F(kafka_faults, a_broker_paused_past_its_session_timeout_loses_nothing_acknowledged_and_applies_nothing_twice) {
    const commands::review_handler handler(writer_->runtime());
    const int total = aggregates() * (votes_per_aggregate() + 1);
    const int victim = busiest_leader();
    clients load(handler, history_);
    load.start(0, aggregates(), votes_per_aggregate(), "");
    ASSERT_TRUE(load.await_acknowledged(total / 3, 120s)) << "the load did not get going";

    ASSERT_TRUE(cluster_->pause(victim).has_value());
    const auto paused_at = steady::now();
    // Frozen with its sockets open until the controller has fenced it: longer than the
    // broker session timeout, by construction.
    const bool fenced = leadership_moved_off(victim, 60s);
    const auto paused_for = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - paused_at);
    ASSERT_TRUE(cluster_->resume(victim).has_value());
    EXPECT_TRUE(fenced) << "node " << victim << " still led a partition after 60 s frozen";
    std::cout << "[ paused   ] node " << victim << " SIGSTOPped for " << paused_for.count() << " ms\n";
    load.join();
    EXPECT_EQ(load.gave_up(), 0);
    ASSERT_TRUE(cluster_->await_fully_replicated(topic).has_value());

    const auto report = expect_history_holds_on_cluster({writer_->store.get()});
    EXPECT_EQ(report.counts.applied, total) << "every command applied once, and nothing else";
}

TEST_F(kafka_faults, the_whole_cluster_killed_and_restarted_keeps_the_log_and_the_store_resumes_equal_to_a_replay) {
    const int before = aggregates() / 2;
    {
        const commands::review_handler handler(writer_->runtime());
        clients load(handler, history_);
        load.start(0, before, votes_per_aggregate() / 2, "");
        load.join();
        EXPECT_EQ(load.gave_up(), 0);
    }
    // Every node at once, as a power cut would; then all on their log dirs (a quorum answers
    // only once a majority runs: start all, then wait for each).
    for (int id = 1; id <= cluster_->broker_count(); ++id) cluster_->kill(id);
    for (int id = 1; id <= cluster_->broker_count(); ++id) {
        ASSERT_TRUE(cluster_->broker(id).restart(false).has_value()) << "node " << id;
    }
    for (int id = 1; id <= cluster_->broker_count(); ++id) {
        auto ready = cluster_->broker(id).wait_ready(120s);
        ASSERT_TRUE(ready.has_value()) << ready.error().message;
    }
    ASSERT_TRUE(cluster_->await_fully_replicated(topic, 120s).has_value());

    // The same writer (its clients reconnected) goes on, on old aggregates and new ones.
    {
        const commands::review_handler handler(writer_->runtime());
        clients load(handler, history_);
        load.start(before, aggregates() - before, votes_per_aggregate() / 2, "");
        load.join();
        EXPECT_EQ(load.gave_up(), 0);
        clients again(handler, history_);
        again.start(0, before, 2, "after-", false);  // more votes on the reviews written before the outage
        again.join();
        EXPECT_EQ(again.gave_up(), 0);
    }
    // Its store, closed and reopened, resumes from its checkpoints: nothing to apply again.
    writer_->stop();
    auto resumed = catch_up_store(dir_.path() / "state", cluster_->bootstrap(), {ctx}, 60s);
    ASSERT_TRUE(resumed.has_value()) << resumed.error();
    EXPECT_EQ(resumed->tail->stats().records, 0) << "the reopened store applied records again";
    const auto report = expect_history_holds_on_cluster({resumed->store.get()});
    EXPECT_EQ(report.counts.stores_equal_replay, 2);
}

}  // namespace
}  // namespace shopstream::testing
