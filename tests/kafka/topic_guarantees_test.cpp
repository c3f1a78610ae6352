// Topic guarantees on the real three-broker cluster (ARCHITECTURE.md decision 12): the
// topics serve creates carry three copies, two in sync, and pass the check; a
// pre-created compacted event topic, and one with min.insync.replicas=1, each make
// `serve` exit 1 with one line naming the topic, the setting and the fix.
#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "eventstore/context.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/topics.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/kafka_cluster.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;

constexpr int partitions = 4;

// Creates `topic` through CreateTopics with `config` (what an operator might have done).
result<void, std::string> create_topic_with(const std::string& bootstrap, const std::string& topic, int replication,
                                            const std::map<std::string, std::string>& config) {
    auto conf = eventstore::kafka::make_conf({{"bootstrap.servers", bootstrap}, {"log_level", "3"}});
    if (!conf) return fail(conf.error().message);
    auto rk = eventstore::kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk) return fail(rk.error().message);
    std::array<char, 256> error{};
    rd_kafka_NewTopic_t* t = rd_kafka_NewTopic_new(topic.c_str(), partitions, replication, error.data(), error.size());
    if (t == nullptr) return fail(std::string(error.data()));
    for (const auto& [k, v] : config) rd_kafka_NewTopic_set_config(t, k.c_str(), v.c_str());
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk->get());
    rd_kafka_CreateTopics(rk->get(), &t, 1, nullptr, queue);
    rd_kafka_NewTopic_destroy(t);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 30'000);
    std::string problem;
    if (ev == nullptr) {
        problem = "CreateTopics timed out";
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        problem = rd_kafka_event_error_string(ev);
    } else {
        std::size_t n = 0;
        const auto** results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (n == 1 && rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            problem = rd_kafka_topic_result_error_string(results[0]);
        }
    }
    if (ev != nullptr) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(queue);
    if (!problem.empty()) return fail("create " + topic + ": " + problem);
    return {};
}

// The smallest replica count over `topic`'s partitions in the metadata; 0 when absent.
int replication_of(const std::string& bootstrap, const std::string& topic) {
    auto conf = eventstore::kafka::make_conf({{"bootstrap.servers", bootstrap}, {"log_level", "3"}});
    auto rk = eventstore::kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    const rd_kafka_metadata_t* md = nullptr;
    if (!rk || rd_kafka_metadata(rk->get(), 1, nullptr, &md, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    int replication = 0;
    for (int i = 0; i < md->topic_cnt; ++i) {
        if (topic != md->topics[i].topic) continue;
        replication = md->topics[i].partition_cnt > 0 ? md->topics[i].partitions[0].replica_cnt : 0;
        for (int p = 1; p < md->topics[i].partition_cnt; ++p) {
            replication = std::min(replication, md->topics[i].partitions[p].replica_cnt);
        }
    }
    rd_kafka_metadata_destroy(md);
    return replication;
}

// Waits (bounded) until the metadata lists `topic` with `replication` replicas everywhere:
// a topic just created reaches every broker's metadata a moment later.
bool listed_with(const std::string& bootstrap, const std::string& topic, int replication) {
    return testing::eventually([&] { return replication_of(bootstrap, topic) == replication; }, 60s, 100ms);
}

// CreateTopics, again while the cluster still deletes an earlier topic of that name.
result<void, std::string> create_when_possible(const std::string& bootstrap, const std::string& topic, int replication,
                                               const std::map<std::string, std::string>& config) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
        auto created = create_topic_with(bootstrap, topic, replication, config);
        if (created || std::chrono::steady_clock::now() > deadline) return created;
        std::this_thread::sleep_for(500ms);  // the deletion's own pace
    }
}

class topic_guarantees_real : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            cluster_ = &shared_kafka_cluster();
        } catch (const std::exception& e) {
            FAIL() << e.what();
        }
        // Only a scratch topic left (reset_topics needs one to create): each test makes its own.
        auto reset = cluster_->reset_topics({{"guarantees.scratch", 1, 1}});
        ASSERT_TRUE(reset.has_value()) << reset.error();
    }

    // `serve` on the cluster; it must stop at the topic check, before PostgreSQL (at a
    // port nobody listens on) is asked.
    [[nodiscard]] result<run_result, adapters::os::error> run_serve() const {
        return run({SHOPSTREAM_BINARY, "serve", "--listen", "127.0.0.1:0", "--brokers", cluster_->bootstrap(),
                    "--partitions", std::to_string(partitions), "--data-dir", (dir_.path() / "data").string(),
                    "--jwt-secret", "topic-guarantees-secret-0123456789abcdef", "--postgres",
                    "postgresql://shop@127.0.0.1:1/x"},
                   120s);
    }

    // Pre-creates orders.events as given, then: the check refuses exactly `setting`, and
    // serve exits 1 with the line naming it and the fix.
    void expect_refused(const std::map<std::string, std::string>& overrides, const std::string& setting,
                        const std::string& fix) {
        auto config = eventstore::guaranteed_topic_settings(3);
        for (const auto& [k, v] : overrides) config[k] = v;
        auto created = create_when_possible(cluster_->bootstrap(), "orders.events", 3, config);
        ASSERT_TRUE(created.has_value()) << created.error();
        ASSERT_TRUE(listed_with(cluster_->bootstrap(), "orders.events", 3));

        auto report = eventstore::check_topic_guarantees(cluster_->bootstrap(), 30s);
        ASSERT_TRUE(report.has_value()) << report.error();
        EXPECT_TRUE(report->checked) << report->unchecked_reason;
        EXPECT_EQ(report->brokers, 3);
        ASSERT_EQ(report->verdicts.size(), 1U);
        EXPECT_EQ(report->verdicts[0].topic, "orders.events");
        EXPECT_EQ(report->verdicts[0].setting, setting);

        auto out = run_serve();
        ASSERT_TRUE(out.has_value()) << out.error();
        EXPECT_EQ(out->status, (exit_status{false, 1, 0})) << out->standard_error;
        const std::string line = "refusing to run: topic orders.events has " + setting + "=" + overrides.begin()->second;
        EXPECT_NE(out->standard_error.find(line), std::string::npos) << out->standard_error;
        EXPECT_NE(out->standard_error.find(fix), std::string::npos) << out->standard_error;
        EXPECT_EQ(out->standard_error.find("cannot reach PostgreSQL"), std::string::npos) << out->standard_error;
    }

    kafka_cluster* cluster_ = nullptr;
    temp_dir dir_;
};

TEST_F(topic_guarantees_real, the_topics_serve_creates_have_three_copies_two_in_sync_and_pass) {
    auto ensured = eventstore::ensure_topics(cluster_->bootstrap(), partitions, 60s);
    ASSERT_TRUE(ensured.has_value()) << ensured.error();
    for (auto c : eventstore::all_contexts) {
        EXPECT_TRUE(listed_with(cluster_->bootstrap(), std::string(eventstore::topic_of(c)), 3)) << eventstore::topic_of(c);
    }
    EXPECT_TRUE(listed_with(cluster_->bootstrap(), std::string(eventstore::identity_topic), 3));
    auto report = eventstore::check_topic_guarantees(cluster_->bootstrap(), 30s);
    ASSERT_TRUE(report.has_value()) << report.error();
    EXPECT_TRUE(report->checked) << report->unchecked_reason;
    EXPECT_EQ(report->brokers, 3);
    EXPECT_TRUE(report->verdicts.empty()) << (report->verdicts.empty() ? "" : report->verdicts.front().message);
}

TEST_F(topic_guarantees_real, a_compacted_event_topic_makes_serve_exit_1_naming_topic_setting_and_fix) {
    expect_refused({{"cleanup.policy", "compact"}}, "cleanup.policy", "--add-config cleanup.policy=delete");
}

TEST_F(topic_guarantees_real, one_in_sync_replica_on_three_brokers_makes_serve_exit_1_naming_the_fix) {
    expect_refused({{"min.insync.replicas", "1"}}, "min.insync.replicas", "--add-config min.insync.replicas=2");
}

TEST_F(topic_guarantees_real, finite_retention_makes_serve_exit_1) {
    expect_refused({{"retention.ms", "86400000"}}, "retention.ms", "--add-config retention.ms=-1");
}

}  // namespace
}  // namespace shopstream::testing
