// The event store under faults, and as foreign clients see it:
//   faults      produce responses lost (the mock writes commit records twice), a broker
//               down and up and partition leaders moved while commands stream in, and
//               timed-out commands retried with the same command id; every command sent
//               and its answer checked by the history checker (tests/support/history_checker.hpp);
//   truncation  a store whose checkpoint the log's start offset has passed refuses to
//               start; concurrent first starts on a fresh log agree on one log identity;
//   interop     kcat reads the commits (keys, headers, values that decode) at the offsets
//               the commands answered, and its records are judged like any other writer's.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "commands/command_handler.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/tail.hpp"
#include "eventstore/aggregate_reader.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/topics.hpp"
#include "tests/support/history_checker.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

using namespace std::chrono_literals;
namespace es = eventstore;
namespace order = domain::order;
namespace review = domain::review;
using testing::eventually;
using commands::command_errc;
using commands::command_result;
using commands::outcome_kind;

constexpr int partitions = 4;

domain::actor customer(std::string id) { return {std::move(id), domain::role::customer}; }

// Clients come back quickly after an injected outage (librdkafka's default backoff grows to 10 s).
std::map<std::string, std::string> fast_reconnect() {
    return {{"reconnect.backoff.ms", "20"}, {"reconnect.backoff.max.ms", "300"}, {"log.connection.close", "false"}};
}

std::string header_of(const testing::record& r, std::string_view name) {
    for (const auto& h : r.headers) {
        if (h.name == name) return h.value.value_or("");
    }
    return {};
}

std::string describe(const command_result& r) {
    if (r.has_value()) {
        return std::string(r->kind == outcome_kind::applied     ? "applied"
                           : r->kind == outcome_kind::duplicate ? "duplicate"
                                                                : "unchanged") +
               " v" + std::to_string(r->version) + (r->at ? " at " + es::to_string(*r->at) : "");
    }
    return "error " + std::to_string(static_cast<int>(r.error().code)) + ": " + r.error().message;
}

// One process's event store: the LMDB state store, its tail and a producer.
struct node {
    std::unique_ptr<es::state_store> store;
    std::unique_ptr<es::tail> tail;
    std::unique_ptr<es::producer> producer;

    commands::store_runtime runtime() { return {*store, *producer, *tail}; }
    void stop() {
        producer.reset();
        tail.reset();
        store.reset();
    }
    ~node() { stop(); }
};

void open_store(node& n, const std::filesystem::path& dir) {
    auto s = es::state_store::open(dir, {std::uint64_t{1} << 30, es::state_store::durability::relaxed});
    ASSERT_TRUE(s.has_value()) << s.error().message;
    n.store = std::move(*s);
}

es::tail_options tail_options(const std::string& bootstrap) {
    es::tail_options o;
    o.bootstrap_servers = bootstrap;
    o.extra = fast_reconnect();
    return o;
}

void open_node(node& n, const std::filesystem::path& dir, const std::string& bootstrap, bool with_producer = true) {
    ASSERT_NO_FATAL_FAILURE(open_store(n, dir));
    auto t = es::tail::start(tail_options(bootstrap), *n.store);
    ASSERT_TRUE(t.has_value()) << t.error();
    n.tail = std::move(*t);
    if (!with_producer) return;
    es::producer_options po;
    po.bootstrap_servers = bootstrap;
    po.extra = fast_reconnect();
    auto p = es::producer::start(po);
    ASSERT_TRUE(p.has_value()) << p.error();
    n.producer = std::move(*p);
}

// Every answer each command id got, from callbacks on the tail's and producer's threads,
// also recorded for the history checker. Declare it before the node whose handler calls
// it back, so it outlives the callbacks.
class answer_log {
public:
    commands::command_callback expect(const std::string& command_id, const std::string& aggregate_id,
                                      es::context ctx = es::context::reviews) {
        {
            std::lock_guard lock(mu_);
            ++outstanding_;
        }
        const auto ticket = history_.sent({ctx, aggregate_id, command_id, "", ""});
        return [this, command_id, ticket](command_result r) {
            history_.answered(ticket, testing::answer_of(r));
            std::lock_guard lock(mu_);
            answers_[command_id].push_back(std::move(r));
            --outstanding_;
            cv_.notify_all();
        };
    }
    [[nodiscard]] bool wait(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [this] { return outstanding_ == 0; });
    }
    [[nodiscard]] int outstanding() {
        std::lock_guard lock(mu_);
        return outstanding_;
    }
    [[nodiscard]] std::map<std::string, std::vector<command_result>> answers() {
        std::lock_guard lock(mu_);
        return answers_;
    }
    [[nodiscard]] testing::history_recorder& history() { return history_; }

private:
    testing::history_recorder history_;
    std::mutex mu_;
    std::condition_variable cv_;
    int outstanding_ = 0;
    std::map<std::string, std::vector<command_result>> answers_;
};

class cluster_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto c = testing::test_kafka::start_with_event_topics(partitions);
        ASSERT_TRUE(c.has_value()) << c.error();
        cluster_.emplace(std::move(*c));
    }

    [[nodiscard]] const std::string& bootstrap() const { return cluster_->bootstrap(); }

    // Only in tests that begin with SHOPSTREAM_SKIP_ON_REAL_KAFKA(*cluster_, ...).
    void mock(const std::function<rd_kafka_resp_err_t(rd_kafka_mock_cluster_t*)>& call) {
        ASSERT_NE(cluster_->mock_cluster(), nullptr);
        ASSERT_EQ(cluster_->mock_cluster()->request(call), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    void set_leader(std::string_view topic, std::int32_t partition, std::int32_t broker) {
        const std::string name(topic);
        mock([&](rd_kafka_mock_cluster_t* m) {
            return rd_kafka_mock_partition_set_leader(m, name.c_str(), partition, broker);
        });
    }

    // The whole topic as a plain consumer sees it, by (partition, offset).
    std::map<es::position, testing::record> log_of(std::string_view topic) {
        std::map<es::position, testing::record> out;
        auto records = testing::consume_all(bootstrap(), topic, 30s);
        EXPECT_TRUE(records.has_value()) << records.error();
        if (!records) return out;
        for (auto& r : *records) out[{es::partition_id(r.partition), es::log_offset(r.offset)}] = std::move(r);
        return out;
    }

    // The history checker over every command `history` recorded (every writer of the
    // reviews log), against the log, `stores` and a store rebuilt from offset 0 by a fresh
    // tail: every reader judges every record alike.
    void expect_history_holds(const testing::history_recorder& history, std::vector<const es::state_store*> stores,
                              es::context ctx = es::context::reviews) {
        auto fresh = testing::catch_up_store(dir_.path() / "rebuilt", bootstrap(), {ctx}, 20s);
        ASSERT_TRUE(fresh.has_value()) << fresh.error();
        stores.push_back(fresh->store.get());
        testing::history_input in;
        in.attempts = history.attempts();
        in.stores = std::move(stores);
        in.all_writers_recorded = true;
        const auto report = testing::expect_history_holds(bootstrap(), {ctx}, std::move(in));
        EXPECT_GT(report.counts.ok, 0) << "nothing was acknowledged: the check proves nothing";
    }

    testing::temp_dir dir_;
    std::optional<testing::test_kafka> cluster_;
};

class faults : public cluster_test {};
class truncation : public cluster_test {};
class interop : public cluster_test {};

// ---- helpers for review streams ------------------------------------------------------------

review::submit_review submit(int k) {
    const std::string author = "author-" + std::to_string(k);
    return review::submit_review{"sku-" + std::to_string(k), domain::customer_id(author), 4, "Title", "Body",
                                 customer(author), 1};
}
domain::review_id review_of(int k) {
    return review::review_id_for("sku-" + std::to_string(k), domain::customer_id("author-" + std::to_string(k)));
}
std::string vote_id(int k, int j) { return "vote-" + std::to_string(k) + "-" + std::to_string(j); }
std::string submit_id(int k) { return "submit-" + std::to_string(k); }

commands::command_metadata meta(std::string id) { return {std::move(id), "corr", "", ""}; }

// What the history checker does not cover, for commands a test issued through handle():
//   * each handle() call was answered exactly once (`issued` counts the calls per id);
//   * a failure is timed_out or unavailable (never a conflict, rejection or internal
//     error), a success `applied` or `duplicate` (never `unchanged`);
//   * `in_order[k]`: commands queued in one lane apply in issue order (the history from
//     the store, each copy verified against the log byte for byte).
void check_lanes(const es::state_store& store, const std::string& bootstrap,
                 const std::map<std::string, std::vector<command_result>>& answers,
                 const std::map<std::string, int>& issued, const std::map<int, std::vector<std::string>>& in_order) {
    for (const auto& [id, calls] : issued) {
        const auto found = answers.find(id);
        ASSERT_NE(found, answers.end()) << id << " was never answered";
        EXPECT_EQ(found->second.size(), static_cast<std::size_t>(calls)) << id << ": one answer per call";
        for (const auto& r : found->second) {
            if (!r.has_value()) {
                EXPECT_TRUE(r.error().code == command_errc::timed_out || r.error().code == command_errc::unavailable)
                    << id << ": " << describe(r);
                continue;
            }
            EXPECT_NE(r->kind, outcome_kind::unchanged) << id;
        }
    }
    auto reader = es::aggregate_reader::open(bootstrap);
    ASSERT_TRUE(reader.has_value()) << reader.error();
    for (const auto& [k, ordered] : in_order) {
        const std::string aggregate = review_of(k).value();
        auto history = (*reader)->read_from_log(store, es::context::reviews, aggregate);
        ASSERT_TRUE(history.has_value()) << history.error();
        const std::set<std::string> wanted(ordered.begin(), ordered.end());
        std::vector<std::string> seen;
        for (const auto& e : *history) {
            if (wanted.contains(e.command_id)) seen.push_back(e.command_id);
        }
        EXPECT_EQ(seen, ordered) << aggregate << ": commands applied out of issue order";
    }
}

// Retries every command whose answers so far are all timed_out/unavailable, with the same
// command id, until it succeeds (bounded); returns how many needed a retry.
template <class Handler, class MakeCommand>
int retry_until_answered(const Handler& handler, std::map<std::string, std::vector<command_result>>& answers,
                         std::map<std::string, int>& issued, testing::history_recorder& history, MakeCommand make) {
    int retried = 0;
    for (auto& [id, results] : answers) {
        const bool succeeded = std::any_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); });
        if (succeeded) continue;
        ++retried;
        for (int attempt = 0; attempt < 5; ++attempt) {
            commands::command_options o;
            o.timeout = 10s;
            auto command = make(id);
            const auto ticket = history.sent({es::context::reviews, es::review_aggregate::aggregate_id(command), id, "", "retry"});
            auto r = handler.handle_sync(std::move(command), meta(id), o);
            history.answered(ticket, testing::answer_of(r));
            ++issued[id];
            const bool ok = r.has_value();
            results.push_back(std::move(r));
            if (ok) break;
        }
        EXPECT_TRUE(results.back().has_value()) << id << " never succeeded on retry: " << describe(results.back());
    }
    return retried;
}

// ---- faults -------------------------------------------------------------------------------

TEST_F(faults, lost_produce_responses_write_commits_twice_and_each_applies_once) {
    SHOPSTREAM_SKIP_ON_REAL_KAFKA(*cluster_, "lost produce responses (rd_kafka_mock_broker_set_rtt/_set_down)");
    // Every reviews partition on broker 1, whose responses we are going to lose.
    for (std::int32_t p = 0; p < partitions; ++p) ASSERT_NO_FATAL_FAILURE(set_leader("reviews.events", p, 1));
    answer_log log;
    // Two writers (two processes' event stores) voting on the same reviews at once.
    node a;
    node b;
    ASSERT_NO_FATAL_FAILURE(open_node(a, dir_.path() / "a", bootstrap()));
    ASSERT_NO_FATAL_FAILURE(open_node(b, dir_.path() / "b", bootstrap()));
    const commands::review_handler reviews_a(a.runtime());
    const commands::review_handler reviews_b(b.runtime());

    constexpr int aggregates = 16;
    std::map<std::string, int> issued;
    std::map<int, std::vector<std::string>> expected;
    std::map<int, std::vector<std::string>> in_order;
    auto vote = [&](const commands::review_handler& h, int k, const std::string& voter, const std::string& id,
                    bool ordered) {
        commands::command_options o;
        o.timeout = 20s;
        h.handle(review::vote_helpful{review_of(k), customer(voter), 2}, meta(id), o, log.expect(id, review_of(k).value()));
        ++issued[id];
        expected[k].push_back(id);
        if (ordered) in_order[k].push_back(id);
    };
    for (int k = 0; k < aggregates; ++k) {  // also acquires the producer ids and warms the connections
        reviews_a.handle(submit(k), meta(submit_id(k)), {}, log.expect(submit_id(k), review_of(k).value()));
        ++issued[submit_id(k)];
        expected[k].push_back(submit_id(k));
        in_order[k].push_back(submit_id(k));
    }
    ASSERT_TRUE(log.wait(20s)) << log.outstanding() << " commands unanswered";
    ASSERT_TRUE(eventually(
        [&] {
            for (int k = 0; k < aggregates; ++k) {
                auto loaded = b.store->load(es::context::reviews, review_of(k).value());
                if (!loaded || !*loaded) return false;
            }
            return true;
        },
        10s, 5ms));
    for (int k = 0; k < aggregates; ++k) vote(reviews_b, k, "warm-up", "warm-up-" + std::to_string(k), true);
    ASSERT_TRUE(log.wait(20s)) << log.outstanding() << " commands unanswered";

    // d2_lost_response.c: responses take 500 ms while the broker appends at once; it goes
    // down before they go out, so the producers retry batches the log already holds.
    mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_rtt(m, 1, 500); });
    for (int k = 0; k < aggregates; ++k) {
        vote(reviews_a, k, "voter-a", vote_id(k, 0), true);
        vote(reviews_b, k, "voter-b", "b-" + vote_id(k, 0), false);
    }
    std::this_thread::sleep_for(250ms);
    mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_down(m, 1); });
    std::this_thread::sleep_for(1000ms);
    mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_rtt(m, 1, 0); });
    mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_up(m, 1); });
    ASSERT_TRUE(log.wait(30s)) << log.outstanding() << " votes unanswered";

    // Later commands on the same aggregates decide on the right version despite the copies.
    for (int k = 0; k < aggregates; ++k) vote(k % 2 == 0 ? reviews_a : reviews_b, k, "voter-c", vote_id(k, 1), true);
    ASSERT_TRUE(log.wait(30s)) << log.outstanding() << " votes unanswered";

    // One answer per command, a success: never two, never a conflict.
    const auto answers = log.answers();
    for (const auto& [id, results] : answers) {
        ASSERT_EQ(results.size(), 1U) << id;
        EXPECT_TRUE(results.front().has_value()) << id << ": " << describe(results.front());
    }

    // The duplicates really are in the log: the same commit (command id and the version
    // it was decided on) more than once...
    const auto records = log_of("reviews.events");
    auto decoded_at = [&](const es::position& at) {
        const auto& value = records.at(at).value.value();
        return es::decode_commit({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()}).value();
    };
    std::map<std::pair<std::string, std::uint64_t>, int> copies;
    std::set<std::string> commands_in_log;
    for (const auto& [at, r] : records) {
        const auto c = decoded_at(at);
        ++copies[{c.command_id, c.expected_version}];
        commands_in_log.insert(c.command_id);
    }
    int duplicated = 0;
    for (const auto& [commit, count] : copies) duplicated += count - 1;
    EXPECT_EQ(commands_in_log.size(), issued.size()) << "records of unknown commands in the log";
    EXPECT_GT(duplicated, 0) << "the mock wrote no commit twice: the test did not exercise duplicates";
    for (node* n : {&a, &b}) {
        const auto stats = n->tail->stats();
        EXPECT_EQ(stats.records, static_cast<std::int64_t>(records.size()));
        EXPECT_EQ(stats.applied, static_cast<std::int64_t>(issued.size()));
        // Each extra copy is a duplicate, or (a copy of a commit that lost to the other
        // writer) a loser again; none applies.
        EXPECT_GE(stats.duplicates, 1);
        EXPECT_EQ(stats.records - stats.applied - stats.skipped, stats.duplicates + stats.losers);
    }
    std::cout << "[          ] " << records.size() << " records for " << issued.size() << " commands: "
              << duplicated << " copies of the same commit; tail: " << a.tail->stats().duplicates << " duplicates, "
              << a.tail->stats().losers << " losers\n";

    // ...and each command applied once: every vote counted once.
    for (int k = 0; k < aggregates; ++k) {
        auto current = reviews_a.current(review_of(k).value());
        ASSERT_TRUE(current.has_value() && current->has_value());
        EXPECT_EQ((*current)->version, 5U) << review_of(k).value();
        EXPECT_EQ((*current)->state.helpful_count(), 4U);
    }
    ASSERT_NO_FATAL_FAILURE(check_lanes(*a.store, bootstrap(), answers, issued, in_order));
    // Each answer names the commit that applied (the first copy of itself: the rule judged
    // later copies duplicates), nothing applied twice, versions gap-free, both stores and a
    // rebuilt one equal to a fresh replay.
    ASSERT_NO_FATAL_FAILURE(expect_history_holds(log.history(), {a.store.get(), b.store.get()}));
}

TEST_F(faults, a_broker_outage_and_leader_moves_mid_stream_lose_nothing_and_apply_nothing_twice) {
    SHOPSTREAM_SKIP_ON_REAL_KAFKA(*cluster_, "a broker outage and leader moves on demand (rd_kafka_mock_broker_set_down, partition_set_leader)");
    // Partition p led by broker p % 3 + 1: broker 1 leads partitions 0 and 3.
    for (std::int32_t p = 0; p < partitions; ++p) ASSERT_NO_FATAL_FAILURE(set_leader("reviews.events", p, p % 3 + 1));
    answer_log log;
    node n;
    ASSERT_NO_FATAL_FAILURE(open_node(n, dir_.path() / "state", bootstrap()));
    const commands::review_handler reviews(n.runtime());

    constexpr int aggregates = 12;
    constexpr int rounds = 14;
    std::map<std::string, int> issued;
    std::map<int, std::vector<std::string>> expected;
    std::map<std::string, int> aggregate_of;
    std::set<es::partition_id> used_partitions;
    for (int k = 0; k < aggregates; ++k) {
        reviews.handle(submit(k), meta(submit_id(k)), {}, log.expect(submit_id(k), review_of(k).value()));
        ++issued[submit_id(k)];
        expected[k].push_back(submit_id(k));
        aggregate_of[submit_id(k)] = k;
        used_partitions.insert(n.producer->partition_for(es::context::reviews, review_of(k).value()));
    }
    ASSERT_TRUE(log.wait(20s));
    ASSERT_TRUE(used_partitions.contains(es::partition_id(0)) || used_partitions.contains(es::partition_id(3)))
        << "no aggregate on broker 1";
    ASSERT_TRUE(used_partitions.contains(es::partition_id(1)) || used_partitions.contains(es::partition_id(2)))
        << "no aggregate off broker 1";
    auto progress = [&] {  // records applied on partitions led by broker 1, and elsewhere
        std::pair<std::int64_t, std::int64_t> out{0, 0};
        for (std::int32_t p = 0; p < partitions; ++p) {
            (p % 3 == 0 ? out.first : out.second) += n.tail->applied_through(es::context::reviews, es::partition_id(p)).value();
        }
        return out;
    };

    // A stream of votes, every aggregate's votes queued in its lane, faults in between.
    // The outage (~1.5 s) outlasts the commands' timeout, so some of them time out.
    commands::command_options o;
    o.timeout = 1500ms;
    std::pair<std::int64_t, std::int64_t> early_in_outage;
    std::pair<std::int64_t, std::int64_t> late_in_outage;
    for (int j = 0; j < rounds; ++j) {
        for (int k = 0; k < aggregates; ++k) {
            const std::string id = vote_id(k, j);
            reviews.handle(review::vote_helpful{review_of(k), customer("voter-" + std::to_string(j)), 10 + j},
                           meta(id), o, log.expect(id, review_of(k).value()));
            ++issued[id];
            expected[k].push_back(id);
            aggregate_of[id] = k;
        }
        if (j == 3) mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_down(m, 1); });
        if (j == 4) early_in_outage = progress();
        if (j == 9) {
            late_in_outage = progress();
            mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_up(m, 1); });
        }
        if (j == 11) {
            ASSERT_NO_FATAL_FAILURE(set_leader("reviews.events", 1, 3));
            ASSERT_NO_FATAL_FAILURE(set_leader("reviews.events", 2, 1));
            ASSERT_NO_FATAL_FAILURE(set_leader("reviews.events", 0, 2));
        }
        std::this_thread::sleep_for(250ms);
    }
    ASSERT_TRUE(log.wait(40s)) << log.outstanding() << " commands unanswered";
    // The faults hit the stream: broker 1's partitions stood still while the others went on.
    EXPECT_EQ(late_in_outage.first, early_in_outage.first) << "broker 1 was not down";
    EXPECT_GT(late_in_outage.second, early_in_outage.second) << "the stream did not go on elsewhere";

    auto answers = log.answers();
    // First answers: success, or timed_out/unavailable (then retried below). Never a
    // conflict, a rejection or an internal error.
    std::map<int, std::vector<std::string>> in_order;
    int first_failures = 0;
    for (const auto& [id, results] : answers) {
        ASSERT_EQ(results.size(), 1U) << id;
        const auto& r = results.front();
        if (!r.has_value()) {
            ++first_failures;
            EXPECT_TRUE(r.error().code == command_errc::timed_out || r.error().code == command_errc::unavailable)
                << id << ": " << describe(r);
        }
    }
    for (const auto& [k, ids] : expected) {
        for (const auto& id : ids) {
            // Commands answered with success ran one after another: the log has them in issue
            // order. One that failed may never have been produced (its deadline passed while
            // it waited in its lane), and then its retry lands later.
            if (answers.at(id).front().has_value()) in_order[k].push_back(id);
        }
    }
    const int retried = retry_until_answered(reviews, answers, issued, log.history(), [&](const std::string& id) -> review::command {
        const int k = aggregate_of.at(id);
        if (id.rfind("submit-", 0) == 0) return submit(k);
        const int j = std::stoi(id.substr(id.rfind('-') + 1));
        return review::vote_helpful{review_of(k), customer("voter-" + std::to_string(j)), 10 + j};
    });
    EXPECT_EQ(retried, first_failures);
    std::cout << "[          ] " << first_failures << " of " << answers.size()
              << " commands needed a retry; tail: " << n.tail->stats().records << " records, "
              << n.tail->stats().losers << " losers, " << n.tail->stats().duplicates << " duplicates\n";

    for (int k = 0; k < aggregates; ++k) {
        auto current = reviews.current(review_of(k).value());
        ASSERT_TRUE(current.has_value() && current->has_value());
        EXPECT_EQ((*current)->version, static_cast<std::uint64_t>(rounds + 1)) << review_of(k).value();
        EXPECT_EQ((*current)->state.helpful_count(), static_cast<std::size_t>(rounds));
    }
    EXPECT_EQ(n.tail->stats().applied, static_cast<std::int64_t>(aggregates * (rounds + 1)));
    EXPECT_FALSE(n.tail->failure().has_value()) << *n.tail->failure();
    ASSERT_NO_FATAL_FAILURE(check_lanes(*n.store, bootstrap(), answers, issued, in_order));
    // Every 2xx applied once where it was told, every 504 at most once, every 503 absent
    // (or its retry's), nothing else applied, the store and a rebuilt one equal to a replay.
    ASSERT_NO_FATAL_FAILURE(expect_history_holds(log.history(), {n.store.get()}));
}

TEST_F(faults, timed_out_commands_retried_with_the_same_id_apply_exactly_once) {
    SHOPSTREAM_SKIP_ON_REAL_KAFKA(*cluster_, "a broker that holds requests (rd_kafka_mock_broker_set_down)");
    for (std::int32_t p = 0; p < partitions; ++p) ASSERT_NO_FATAL_FAILURE(set_leader("reviews.events", p, 2));
    node n;
    ASSERT_NO_FATAL_FAILURE(open_node(n, dir_.path() / "state", bootstrap()));
    const commands::review_handler reviews(n.runtime());
    testing::history_recorder history;
    auto sync = [&](review::command c, const std::string& id, commands::command_options o = {}) {
        const auto ticket = history.sent({es::context::reviews, review_of(0).value(), id, "", ""});
        auto r = reviews.handle_sync(std::move(c), meta(id), o);
        history.answered(ticket, testing::answer_of(r));
        return r;
    };
    ASSERT_TRUE(sync(submit(0), submit_id(0)).has_value());

    const review::vote_helpful vote{review_of(0), customer("voter"), 2};
    mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_down(m, 2); });
    commands::command_options quick;
    quick.timeout = 400ms;
    // Two attempts while the leader is down: each decides on version 1 and enqueues a commit
    // that the log takes later; neither can learn its verdict in time.
    auto first = sync(vote, "the-vote", quick);
    auto second = sync(vote, "the-vote", quick);
    ASSERT_FALSE(first.has_value());
    EXPECT_EQ(first.error().code, command_errc::timed_out) << describe(first);
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, command_errc::timed_out) << describe(second);
    mock([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_up(m, 2); });

    commands::command_options patient;
    patient.timeout = 15s;
    auto third = sync(vote, "the-vote", patient);
    ASSERT_TRUE(third.has_value()) << describe(third);
    EXPECT_NE(third->kind, outcome_kind::unchanged);
    EXPECT_EQ(third->version, 2U);
    // And once more, after everything settled: the first answer again, nothing appended.
    ASSERT_TRUE(n.producer->flush(10s).has_value());
    ASSERT_TRUE(eventually([&] { return n.tail->applied_through(es::context::reviews, third->at->partition) ==
                                        n.tail->known_log_end(es::context::reviews, third->at->partition); },
                           10s, 5ms));
    const auto records_before = n.tail->stats().records;
    auto fourth = sync(vote, "the-vote", patient);
    ASSERT_TRUE(fourth.has_value()) << describe(fourth);
    EXPECT_EQ(fourth->kind, outcome_kind::duplicate);
    EXPECT_EQ(fourth->at, third->at);
    EXPECT_EQ(fourth->attempts, 0);
    EXPECT_EQ(n.tail->stats().records, records_before);

    const auto records = log_of("reviews.events");
    int copies = 0;
    for (const auto& [at, r] : records) copies += header_of(r, es::header::command_id) == "the-vote" ? 1 : 0;
    EXPECT_GE(copies, 2) << "both timed-out attempts' commits reach the log";
    EXPECT_EQ(n.tail->stats().duplicates, copies - 1);
    auto current = reviews.current(review_of(0).value());
    ASSERT_TRUE(current.has_value() && current->has_value());
    EXPECT_EQ((*current)->version, 2U);
    EXPECT_EQ((*current)->state.helpful_count(), 1U);
    // The two 504s and the 2xx answers of one command id: it applied once, where told.
    ASSERT_NO_FATAL_FAILURE(expect_history_holds(history, {n.store.get()}));

    // The same recording checked by the CLI over the saved file, with the rebuilt store
    // (closed again by now): it holds (exit 0); with a
    // 2xx for a command the log never took added, it does not (exit 1, the command named).
    const auto file = dir_.path() / "history.jsonl";
    ASSERT_TRUE(history.save(file).has_value());
    auto cli = [&] {
        return testing::run({SHOPSTREAM_HISTORY_CHECK, "--brokers", bootstrap(), "--history", file.string(),
                             "--context", "reviews", "--store", (dir_.path() / "rebuilt").string()},
                            60s);
    };
    auto holds = cli();
    ASSERT_TRUE(holds.has_value()) << holds.error();
    EXPECT_EQ(holds->status.code, 0) << holds->standard_output << holds->standard_error;
    EXPECT_NE(holds->standard_output.find("2xx 3 applied-once 3; "), std::string::npos) << holds->standard_output;
    EXPECT_NE(holds->standard_output.find("504 2 at-most-once 2; "), std::string::npos) << holds->standard_output;
    const auto ghost = history.sent({es::context::reviews, review_of(0).value(), "never-sent", "", "a lie"});
    history.answered(ghost, testing::command_answer{200, false, third->at, 2});
    ASSERT_TRUE(history.save(file).has_value());
    auto broken = cli();
    ASSERT_TRUE(broken.has_value()) << broken.error();
    EXPECT_EQ(broken->status.code, 1) << broken->standard_output << broken->standard_error;
    EXPECT_NE(broken->standard_output.find("VIOLATION a 2xx is applied exactly once (applied 0 times)"),
              std::string::npos)
        << broken->standard_output;
    EXPECT_NE(broken->standard_output.find("never-sent"), std::string::npos) << broken->standard_output;
}

TEST_F(faults, one_command_id_reused_on_two_aggregates_gets_each_writer_its_own_verdict) {
    // Command ids come from clients (Idempotency-Key) and the apply rule keeps them per
    // aggregate: two clients may use the same one on different aggregates. Each writer must
    // still be answered by the verdict on ITS commit, never by the other aggregate's.
    answer_log log;
    node n;
    ASSERT_NO_FATAL_FAILURE(open_node(n, dir_.path() / "state", bootstrap()));
    const commands::order_handler orders(n.runtime());
    const std::vector<std::string> ids = {"shared-a", "shared-b"};
    constexpr int rounds = 20;
    for (int round = 0; round < rounds; ++round) {
        const std::string command_id = "idem-" + std::to_string(round);
        std::vector<std::string> aggregates;
        for (const auto& base : ids) aggregates.push_back(base + "-" + std::to_string(round));
        std::mutex mu;
        std::condition_variable cv;
        std::vector<std::pair<std::string, command_result>> got;
        for (const auto& aggregate : aggregates) {
            const auto ticket = log.history().sent({es::context::orders, aggregate, command_id, "", "place_order"});
            orders.handle(order::place_order{domain::order_id(aggregate), domain::customer_id("c-1"),
                                             {{"sku-1", 1, 100}}, "EUR", customer("c-1"), 1, "tok_visa"},
                          meta(command_id), {}, [&, aggregate, ticket](command_result r) {
                              log.history().answered(ticket, testing::answer_of(r));
                              std::lock_guard lock(mu);
                              got.emplace_back(aggregate, std::move(r));
                              cv.notify_all();
                          });
        }
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return got.size() == aggregates.size(); }));
        for (auto& [aggregate, r] : got) {
            ASSERT_TRUE(r.has_value()) << aggregate << ": " << describe(r);
            EXPECT_EQ(r->kind, outcome_kind::applied) << aggregate;
            ASSERT_TRUE(r->at.has_value());
            EXPECT_EQ(r->at->partition, es::murmur2_partition(aggregate, partitions))
                << aggregate << " was answered with another aggregate's commit: " << describe(r);
            auto stored = n.store->load(es::context::orders, aggregate);
            ASSERT_TRUE(stored.has_value());
            ASSERT_TRUE(stored->has_value()) << aggregate << " answered applied but not in the store";
            ASSERT_EQ((*stored)->head.recent_commands.size(), 1U);
            EXPECT_EQ((*stored)->head.recent_commands.front().at, *r->at)
                << aggregate << " was answered with another aggregate's commit";
        }
    }
    // The checker keys command ids by aggregate too: each 2xx is its own aggregate's commit.
    ASSERT_NO_FATAL_FAILURE(expect_history_holds(log.history(), {n.store.get()}, es::context::orders));
}

// ---- truncation and identity ---------------------------------------------------------------

TEST_F(truncation, a_store_whose_checkpoint_fell_behind_the_log_start_refuses_to_start) {
    SHOPSTREAM_SKIP_ON_REAL_KAFKA(*cluster_, "the mock's 5 MiB per partition truncating the log");
    // Orders in one partition, applied by two stores: `stale` stops before the log is
    // truncated, `live` keeps applying while it happens.
    constexpr es::partition_id partition{1};
    std::vector<std::string> ids;
    for (int i = 0; ids.size() < 3; ++i) {
        std::string id = "o-" + std::to_string(i);
        if (es::murmur2_partition(id, partitions) == partition) ids.push_back(std::move(id));
    }
    node stale;
    node live;
    ASSERT_NO_FATAL_FAILURE(open_node(stale, dir_.path() / "stale", bootstrap()));
    ASSERT_NO_FATAL_FAILURE(open_node(live, dir_.path() / "live", bootstrap(), false));
    {
        const commands::order_handler orders(stale.runtime());
        for (const auto& id : ids) {
            auto placed = orders.handle_sync(
                order::place_order{domain::order_id(id), domain::customer_id("c-1"), {{"sku-1", 1, 100}}, "EUR",
                                   customer("c-1"), 1, "tok_visa"},
                meta("place-" + id));
            ASSERT_TRUE(placed.has_value()) << describe(placed);
            ASSERT_EQ(placed->at->partition, partition);
        }
    }
    auto checkpoints = stale.store->checkpoints(es::context::orders);
    ASSERT_TRUE(checkpoints.has_value());
    const std::int64_t stale_next = checkpoints->at(partition).value();
    EXPECT_EQ(stale_next, 3);
    stale.stop();

    // More than the mock keeps per partition (5 MiB): it silently drops the oldest records.
    // (The live tail warns about each of these non-commits; keep the output readable.)
    const auto level = spdlog::get_level();
    spdlog::set_level(spdlog::level::err);
    struct restore_level {
        spdlog::level::level_enum level;
        ~restore_level() { spdlog::set_level(level); }
    } restore{level};
    auto flood = testing::test_producer::create(testing::producer_config(bootstrap()));
    ASSERT_TRUE(flood.has_value()) << flood.error();
    testing::record big;
    big.key = "flood";
    big.value = std::string(std::size_t{128} << 10, 'x');
    for (int chunk = 0; chunk < 6; ++chunk) {
        for (int i = 0; i < 8; ++i) ASSERT_TRUE(flood->produce("orders.events", big, partition.value()).has_value());
        ASSERT_TRUE(flood->flush(30s).has_value());
        // The live store keeps up (it skips the non-commits), so it never falls behind the start.
        const auto ends = live.tail->await_log_end(es::context::orders, es::clock::now() + 20s);
        ASSERT_TRUE(ends.has_value()) << ends.error();
        ASSERT_EQ(live.tail->applied_through(es::context::orders, partition),
                  ends->at(static_cast<std::size_t>(partition.value())));
    }
    std::int64_t low = 0;
    std::int64_t high = 0;
    ASSERT_EQ(rd_kafka_query_watermark_offsets(flood->handle(), "orders.events", partition.value(), &low, &high, 5000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_GT(low, stale_next) << "the mock did not truncate the partition; the test proves nothing";
    EXPECT_FALSE(live.tail->failure().has_value());
    EXPECT_EQ(live.tail->stats().skipped, 48);

    // The stale store: refused, with the partition, the offsets and the fix named.
    ASSERT_NO_FATAL_FAILURE(open_store(stale, dir_.path() / "stale"));
    auto refused = es::tail::start(tail_options(bootstrap()), *stale.store);
    ASSERT_FALSE(refused.has_value()) << "a store that needs offset " << stale_next << " started on a log starting at "
                                      << low;
    EXPECT_EQ(refused.error().code, es::errc::records_lost);
    const std::string& why = refused.error().message;
    EXPECT_NE(why.find("records lost"), std::string::npos) << why;
    EXPECT_NE(why.find("orders.events partition " + std::to_string(partition.value())), std::string::npos) << why;
    EXPECT_NE(why.find("offset " + std::to_string(low)), std::string::npos) << why;
    EXPECT_NE(why.find("needs offset " + std::to_string(stale_next)), std::string::npos) << why;
    EXPECT_NE(why.find("retention"), std::string::npos) << why;
    EXPECT_NE(why.find((dir_.path() / "stale").string()), std::string::npos) << why;
    // Nothing was applied on the way: the stale store is as it was.
    auto after = stale.store->checkpoints(es::context::orders);
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after->at(partition).value(), stale_next);

    // A brand-new store needs offset 0, which is gone too.
    node fresh;
    ASSERT_NO_FATAL_FAILURE(open_store(fresh, dir_.path() / "fresh"));
    auto fresh_refused = es::tail::start(tail_options(bootstrap()), *fresh.store);
    ASSERT_FALSE(fresh_refused.has_value()) << "a new store started on a log that lost its first records";
    EXPECT_EQ(fresh_refused.error().code, es::errc::records_lost);
    EXPECT_NE(fresh_refused.error().message.find("records lost"), std::string::npos) << fresh_refused.error();

    // The live store restarts fine: its checkpoint is past the new log start.
    live.tail.reset();
    auto restarted = es::tail::start(tail_options(bootstrap()), *live.store);
    ASSERT_TRUE(restarted.has_value()) << restarted.error();
    for (const auto& id : ids) {
        auto loaded = live.store->load(es::context::orders, id);
        ASSERT_TRUE(loaded.has_value() && loaded->has_value()) << id;
        EXPECT_EQ((*loaded)->head.version, 1U);
    }
}

TEST_F(truncation, a_fresh_log_identity_written_concurrently_is_one_identity_all_agree_on) {
    SHOPSTREAM_SKIP_ON_REAL_KAFKA(*cluster_, "slow responses on every broker (rd_kafka_mock_broker_set_rtt)");
    // Slow responses so that every starter reads the empty identity topic before anyone's
    // write lands: each of them writes an identity of its own.
    for (int broker = 1; broker <= 3; ++broker) {
        mock([broker](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_rtt(m, broker, 150); });
    }
    constexpr int starters = 4;
    std::vector<result<std::string, es::error>> identities(starters, fail(es::error{es::errc::timed_out, "not run"}));
    {
        std::latch go(starters);
        std::vector<std::jthread> threads;
        for (int i = 0; i < starters; ++i) {
            threads.emplace_back([&, i] {
                go.arrive_and_wait();
                identities[static_cast<std::size_t>(i)] = es::ensure_log_identity(bootstrap(), 20s);
            });
        }
    }
    for (int broker = 1; broker <= 3; ++broker) {
        mock([broker](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_rtt(m, broker, 0); });
    }
    for (const auto& id : identities) ASSERT_TRUE(id.has_value()) << id.error();
    const std::string identity = *identities.front();
    EXPECT_FALSE(identity.empty());
    for (const auto& id : identities) EXPECT_EQ(*id, identity) << "starters disagree on the log's identity";

    auto records = testing::consume_all(bootstrap(), es::identity_topic, 20s);
    ASSERT_TRUE(records.has_value()) << records.error();
    ASSERT_FALSE(records->empty());
    EXPECT_GE(records->size(), 2U) << "the starters did not race: only one wrote an identity";
    EXPECT_EQ(records->front().value, "shopstream-log-identity:" + identity) << "the identity is the FIRST record";

    // Stores started concurrently on this log record that identity, and later starts agree.
    node a;
    node b;
    ASSERT_NO_FATAL_FAILURE(open_store(a, dir_.path() / "a"));
    ASSERT_NO_FATAL_FAILURE(open_store(b, dir_.path() / "b"));
    {
        std::latch go(2);
        std::jthread ta([&] {
            go.arrive_and_wait();
            auto t = es::tail::start(tail_options(bootstrap()), *a.store);
            if (t) a.tail = std::move(*t);
        });
        std::jthread tb([&] {
            go.arrive_and_wait();
            auto t = es::tail::start(tail_options(bootstrap()), *b.store);
            if (t) b.tail = std::move(*t);
        });
    }
    ASSERT_TRUE(a.tail && b.tail);
    EXPECT_EQ(a.tail->log_identity(), identity);
    EXPECT_EQ(b.tail->log_identity(), identity);
    ASSERT_TRUE(eventually([&] { return a.tail->caught_up() && b.tail->caught_up(); }, 20s, 5ms));
    EXPECT_EQ(a.store->log_identity().value(), identity);
    EXPECT_EQ(b.store->log_identity().value(), identity);
    auto again = es::ensure_log_identity(bootstrap(), 10s);
    ASSERT_TRUE(again.has_value()) << again.error();
    EXPECT_EQ(*again, identity);
}

// ---- interop -------------------------------------------------------------------------------

struct kcat_record {
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::string key;
    std::map<std::string, std::string> headers;
    std::string value;
};

// kcat's %h is "name=value,name=value": a comma starts a new header only when a known
// header name and '=' follow it (event-types holds commas itself).
std::map<std::string, std::string> parse_headers(std::string_view text) {
    static const std::set<std::string_view> names = {es::header::type,           es::header::schema_version,
                                                     es::header::event_types,    es::header::command_id,
                                                     es::header::correlation_id, es::header::causation_id,
                                                     es::header::actor,          es::header::traceparent};
    std::map<std::string, std::string> out;
    std::string current;
    std::size_t begin = 0;
    while (begin <= text.size()) {
        const auto comma = text.find(',', begin);
        const auto piece = text.substr(begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
        const auto eq = piece.find('=');
        if (eq != std::string_view::npos && names.contains(piece.substr(0, eq))) {
            current = std::string(piece.substr(0, eq));
            out[current] = std::string(piece.substr(eq + 1));
        } else if (!current.empty()) {
            out[current] += "," + std::string(piece);
        } else if (!piece.empty()) {
            out[std::string(piece)] = "<unparsed>";
        }
        if (comma == std::string_view::npos) break;
        begin = comma + 1;
    }
    return out;
}

// Output of kcat -f '@@ %p %o %K %S\n%k\n%h\n%s\n': lengths first, so binary values are safe.
std::vector<kcat_record> parse_kcat(const std::string& out) {
    std::vector<kcat_record> records;
    std::size_t at = 0;
    while (at < out.size()) {
        const auto eol = out.find('\n', at);
        if (eol == std::string::npos) {
            ADD_FAILURE() << "truncated kcat output at byte " << at;
            break;
        }
        const std::string line = out.substr(at, eol - at);
        kcat_record r;
        long long offset = 0;
        long long key_len = 0;
        long long value_len = 0;
        if (std::sscanf(line.c_str(), "@@ %d %lld %lld %lld", &r.partition, &offset, &key_len, &value_len) != 4 ||
            key_len < 0 || value_len < 0) {
            ADD_FAILURE() << "unexpected kcat record line: " << line;
            break;
        }
        r.offset = offset;
        at = eol + 1;
        r.key = out.substr(at, static_cast<std::size_t>(key_len));
        at += static_cast<std::size_t>(key_len) + 1;
        const auto header_end = out.find('\n', at);
        if (header_end == std::string::npos) {
            ADD_FAILURE() << "truncated kcat headers";
            break;
        }
        r.headers = parse_headers(std::string_view(out).substr(at, header_end - at));
        at = header_end + 1;
        r.value = out.substr(at, static_cast<std::size_t>(value_len));
        at += static_cast<std::size_t>(value_len) + 1;
        if (at > out.size() + 1) {
            ADD_FAILURE() << "truncated kcat value";
            break;
        }
        records.push_back(std::move(r));
    }
    return records;
}

std::vector<kcat_record> kcat_consume(const std::string& bootstrap, const std::string& topic) {
    auto run = testing::run({"kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f",
                             "@@ %p %o %K %S\n%k\n%h\n%s\n"},
                            30s);
    EXPECT_TRUE(run.has_value()) << run.error();
    if (!run) return {};
    EXPECT_TRUE(run->status.success()) << run->status.describe() << ": " << run->standard_error;
    return parse_kcat(run->standard_output);
}

TEST_F(interop, kcat_reads_the_commits_at_the_offsets_the_commands_answered) {
    node n;
    ASSERT_NO_FATAL_FAILURE(open_node(n, dir_.path() / "state", bootstrap()));
    const commands::order_handler orders(n.runtime());
    const std::string trace_1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const std::string trace_3 = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01";

    struct sent {
        std::string aggregate;
        commands::command_metadata metadata;
        std::string type;
        std::string event_type;
        std::uint16_t event_type_id;
        std::uint64_t expected_version;
        std::string actor;
        es::position at;
    };
    std::vector<sent> commands;
    auto place = [](const std::string& id, const std::string& who) {
        return order::place_order{domain::order_id(id), domain::customer_id(who), {{"sku-1", 2, 500}, {"sku-2", 1, 1250}},
                                  "EUR", customer(who), 1'700'000'000'000, "tok_visa"};
    };
    auto run_command = [&](order::command c, sent s) {
        auto r = orders.handle_sync(std::move(c), s.metadata);
        ASSERT_TRUE(r.has_value()) << describe(r);
        ASSERT_EQ(r->kind, outcome_kind::applied);
        s.at = *r->at;
        commands.push_back(std::move(s));
    };
    ASSERT_NO_FATAL_FAILURE(run_command(place("o-1", "c-1"),
                                        {"o-1", {"cmd-place-1", "corr-1", "", trace_1}, "place_order", "order_placed",
                                         order::order_placed::type_id, 0, "customer:c-1", {}}));
    ASSERT_NO_FATAL_FAILURE(run_command(place("o-2", "c-2"),
                                        {"o-2", {"cmd-place-2", "corr-2", "", ""}, "place_order", "order_placed",
                                         order::order_placed::type_id, 0, "customer:c-2", {}}));
    ASSERT_NO_FATAL_FAILURE(run_command(order::cancel_order{domain::order_id("o-1"), customer("c-1"), 2},
                                        {"o-1", {"cmd-cancel-1", "corr-1", "cmd-place-1", trace_3}, "cancel_order",
                                         "order_cancelled", order::order_cancelled::type_id, 1, "customer:c-1", {}}));

    const auto records = kcat_consume(bootstrap(), "orders.events");
    ASSERT_EQ(records.size(), commands.size()) << "kcat sees exactly the commits, no more";
    std::map<es::position, const kcat_record*> by_position;
    for (const auto& r : records) by_position[{es::partition_id(r.partition), es::log_offset(r.offset)}] = &r;
    for (const auto& s : commands) {
        SCOPED_TRACE(s.metadata.command_id);
        const auto found = by_position.find(s.at);
        ASSERT_NE(found, by_position.end()) << "kcat has no record at " << es::to_string(s.at);
        const kcat_record& r = *found->second;
        EXPECT_EQ(r.key, s.aggregate);
        std::map<std::string, std::string> want = {{"type", s.type},
                                                   {"schema-version", std::to_string(es::commit_schema_version)},
                                                   {"event-types", s.event_type},
                                                   {"command-id", s.metadata.command_id},
                                                   {"correlation-id", s.metadata.correlation_id},
                                                   {"actor", s.actor}};
        if (!s.metadata.causation_id.empty()) want["causation-id"] = s.metadata.causation_id;
        if (!s.metadata.traceparent.empty()) want["traceparent"] = s.metadata.traceparent;
        EXPECT_EQ(r.headers, want);
        auto decoded = es::decode_commit(
            {reinterpret_cast<const std::uint8_t*>(r.value.data()), r.value.size()});  // NOLINT: bytes
        ASSERT_TRUE(decoded.has_value()) << "kcat's value does not decode: " << decoded.error().detail;
        EXPECT_EQ(decoded->aggregate_id, s.aggregate);
        EXPECT_EQ(decoded->command_id, s.metadata.command_id);
        EXPECT_EQ(decoded->expected_version, s.expected_version);
        ASSERT_EQ(decoded->events.size(), 1U);
        EXPECT_EQ(decoded->events[0].type, s.event_type_id);
        auto event = es::order_aggregate::decode_event(decoded->events[0].type, decoded->events[0].schema_version,
                                                       decoded->events[0].payload);
        ASSERT_TRUE(event.has_value()) << event.error().detail;
        if (const auto* placed = std::get_if<order::order_placed>(&*event)) {
            EXPECT_EQ(placed->total, 2250);
        }
    }
}

TEST_F(interop, records_kcat_writes_are_judged_like_any_other_writer_s) {
    node n;
    ASSERT_NO_FATAL_FAILURE(open_node(n, dir_.path() / "state", bootstrap()));
    const commands::order_handler orders(n.runtime());
    const es::partition_id partition = es::murmur2_partition("o-foreign", partitions);

    // Not a commit: every reader skips it.
    const auto junk = dir_.path() / "junk.bin";
    std::ofstream(junk, std::ios::binary) << "not a commit \x01\x02";
    // A valid commit, written by a foreign client into the aggregate's partition.
    es::commit c;
    c.aggregate_id = "o-foreign";
    c.expected_version = 0;
    c.command_id = "foreign-1";
    c.events.push_back(es::order_aggregate::encode_event(order::order_placed{
        domain::order_id("o-foreign"), domain::customer_id("c-9"), {{"sku-1", 3, 100}}, domain::currency::parse("EUR").value(), 300, 1,
        "tok_visa"}));
    const auto bytes = es::encode_commit(c);
    const auto commit_file = dir_.path() / "commit.bin";
    std::ofstream(commit_file, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));  // NOLINT
    const auto copies_before = n.tail->stats();
    for (const auto& file : {junk, commit_file, commit_file}) {  // the commit twice: a retrying foreign writer
        auto produced = testing::run({"kcat", "-b", bootstrap(), "-P", "-t", "orders.events", "-p",
                                      std::to_string(partition.value()), "-k", "o-foreign", "-H", "type=place_order", "-H",
                                      "command-id=foreign-1", file.string()},
                                     30s);
        ASSERT_TRUE(produced.has_value()) << produced.error();
        ASSERT_TRUE(produced->status.success()) << produced->standard_error;
    }
    ASSERT_TRUE(eventually([&] { return n.tail->stats().records - copies_before.records == 3; }, 15s, 5ms))
        << n.tail->stats().records;
    const auto stats = n.tail->stats();
    EXPECT_EQ(stats.skipped - copies_before.skipped, 1);
    EXPECT_EQ(stats.applied - copies_before.applied, 1);
    EXPECT_EQ(stats.duplicates - copies_before.duplicates, 1);

    // The store holds the foreign commit, and our own commands build on it.
    auto current = orders.current("o-foreign");
    ASSERT_TRUE(current.has_value() && current->has_value());
    EXPECT_EQ((*current)->version, 1U);
    EXPECT_EQ((*current)->state.total, 300);
    auto cancelled = orders.handle_sync(order::cancel_order{domain::order_id("o-foreign"), customer("c-9"), 2},
                                        meta("cancel-foreign"));
    ASSERT_TRUE(cancelled.has_value()) << describe(cancelled);
    EXPECT_EQ(cancelled->version, 2U);
    // Retrying the foreign command id through the handler answers the foreign commit.
    auto retried = orders.handle_sync(
        order::place_order{domain::order_id("o-foreign"), domain::customer_id("c-9"), {{"sku-1", 3, 100}}, "EUR",
                           customer("c-9"), 1, "tok_visa"},
        meta("foreign-1"));
    ASSERT_TRUE(retried.has_value()) << describe(retried);
    EXPECT_EQ(retried->kind, outcome_kind::duplicate);
    EXPECT_EQ(retried->version, 1U);
}

}  // namespace
}  // namespace shopstream
