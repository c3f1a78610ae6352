// The real three-node cluster of the tests (tests/support/kafka_cluster.hpp): its fault
// helpers do what they say, and librdkafka 2.0.2 meets Kafka 4.1 on the protocol features
// the event store relies on (the idempotent producer really enabled, not degraded).

#include "tests/support/kafka_cluster.hpp"
#include "tests/support/eventually.hpp"

#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/kafka_fixture.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

record numbered(int i) { return {"key-" + std::to_string(i % 7), "value-" + std::to_string(i), {{"n", std::to_string(i)}}}; }

void produce_acknowledged(const std::string& bootstrap, const std::string& topic, int from, int to) {
    auto producer = test_producer::create(producer_config(bootstrap));
    ASSERT_TRUE(producer.has_value()) << producer.error();
    for (int i = from; i < to; ++i) ASSERT_TRUE(producer->produce(topic, numbered(i), 0).has_value());
    auto flushed = producer->flush(60s);
    ASSERT_TRUE(flushed.has_value()) << flushed.error();
}

class kafka_cluster_test : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            cluster_ = &shared_kafka_cluster();
        } catch (const std::exception& e) {
            FAIL() << e.what();
        }
        auto reset = cluster_->reset_topics({{topic, 1, 3}});
        ASSERT_TRUE(reset.has_value()) << reset.error();
    }
    static constexpr const char* topic = "cluster.test";
    kafka_cluster* cluster_ = nullptr;
};

TEST_F(kafka_cluster_test, a_killed_leader_is_replaced_and_restarted_on_its_log_dir_loses_nothing) {
    EXPECT_EQ(cluster_->broker_count(), 3);
    ASSERT_NO_FATAL_FAILURE(produce_acknowledged(cluster_->bootstrap(), topic, 0, 50));
    auto leader = cluster_->leader_of(topic, eventstore::partition_id(0));
    ASSERT_TRUE(leader.has_value()) << leader.error();

    cluster_->kill(*leader);
    EXPECT_FALSE(cluster_->broker(*leader).running());
    int successor = -1;
    ASSERT_TRUE(eventually(
        [&] {
            auto now = cluster_->leader_of(topic, eventstore::partition_id(0), 2s);
            if (now && *now != *leader) successor = *now;
            return successor > 0;
        },
        60s))
        << "no new leader after node " << *leader << " was killed";
    ASSERT_NO_FATAL_FAILURE(produce_acknowledged(cluster_->bootstrap(), topic, 50, 100));

    auto restarted = cluster_->restart(*leader);
    ASSERT_TRUE(restarted.has_value()) << restarted.error();
    auto replicated = cluster_->await_fully_replicated(topic);
    ASSERT_TRUE(replicated.has_value()) << replicated.error();

    auto records = consume_all(cluster_->bootstrap(), topic, 60s);
    ASSERT_TRUE(records.has_value()) << records.error();
    ASSERT_EQ(records->size(), 100U);
    for (int i = 0; i < 100; ++i) EXPECT_EQ((*records)[static_cast<std::size_t>(i)].value, numbered(i).value) << i;
}

TEST_F(kafka_cluster_test, a_paused_node_answers_nothing_until_resumed) {
    const int victim = 2;
    ASSERT_TRUE(cluster_->pause(victim).has_value());
    EXPECT_TRUE(cluster_->broker(victim).paused());
    EXPECT_FALSE(node_answers(cluster_->broker(victim).bootstrap(), 2s)) << "a SIGSTOPped node answered";
    // The others still serve the cluster.
    EXPECT_TRUE(node_answers(cluster_->broker(1).bootstrap(), 10s));
    ASSERT_TRUE(cluster_->resume(victim).has_value());
    EXPECT_TRUE(node_answers(cluster_->broker(victim).bootstrap(), 30s));
    auto replicated = cluster_->await_fully_replicated(topic);
    EXPECT_TRUE(replicated.has_value()) << replicated.error();
}

TEST_F(kafka_cluster_test, reset_topics_leaves_only_the_new_topics_empty_and_fully_replicated) {
    ASSERT_NO_FATAL_FAILURE(produce_acknowledged(cluster_->bootstrap(), topic, 0, 5));
    auto reset = cluster_->reset_topics(default_topics());
    ASSERT_TRUE(reset.has_value()) << reset.error();
    EXPECT_FALSE(partition_count(cluster_->bootstrap(), topic).has_value()) << "the old topic survived";
    for (const auto& t : default_topics()) {
        auto count = partition_count(cluster_->bootstrap(), t.name);
        ASSERT_TRUE(count.has_value()) << count.error();
        EXPECT_EQ(*count, t.partitions) << t.name;
        auto records = consume_all(cluster_->bootstrap(), t.name, 60s);
        ASSERT_TRUE(records.has_value()) << records.error();
        EXPECT_TRUE(records->empty()) << t.name;
    }
}

// librdkafka's statistics say whether its idempotent producer got a producer id
// (InitProducerId) from the cluster: "eos": {"idemp_state": "Assigned", "producer_id": N}.
// Without one it would stay in RequestPID/WaitPID, or fail fatally; without
// enable.idempotence there is no producer id - the control that shows this check can fail.
struct eos_state {
    bool reported = false;  // a statistics report arrived
    std::string idemp_state;  // empty: the report has no "eos" section
    std::int64_t producer_id = -1;
};

eos_state producer_eos(const std::string& bootstrap, bool idempotent, const std::string& topic_name) {
    auto config = producer_config(bootstrap);
    config["enable.idempotence"] = idempotent ? "true" : "false";
    config["statistics.interval.ms"] = "100";
    auto conf = eventstore::kafka::make_conf(config);
    EXPECT_TRUE(conf.has_value());
    if (!conf) return {};
    struct seen {
        std::mutex mutex;
        eos_state last;
    } state;
    rd_kafka_conf_set_opaque(conf->get(), &state);
    rd_kafka_conf_set_stats_cb(conf->get(), [](rd_kafka_t*, char* json, std::size_t, void* opaque) {
        auto* s = static_cast<seen*>(opaque);
        const auto stats = nlohmann::json::parse(json, nullptr, false);
        if (stats.is_discarded()) return 0;
        const std::scoped_lock lock(s->mutex);
        s->last.reported = true;
        if (stats.contains("eos")) {
            s->last.idemp_state = stats["eos"].value("idemp_state", "");
            s->last.producer_id = stats["eos"].value("producer_id", std::int64_t{-1});
        }
        return 0;  // librdkafka frees json
    });
    auto handle = eventstore::kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    EXPECT_TRUE(handle.has_value());
    if (!handle) return {};
    std::string value = "x";
    rd_kafka_topic_t* t = rd_kafka_topic_new(handle->get(), topic_name.c_str(), nullptr);
    EXPECT_EQ(rd_kafka_produce(t, 0, RD_KAFKA_MSG_F_COPY, value.data(), value.size(), nullptr, 0, nullptr), 0);
    rd_kafka_topic_destroy(t);
    EXPECT_EQ(rd_kafka_flush(handle->get(), 30'000), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::array<char, 256> reason{};
    EXPECT_EQ(rd_kafka_fatal_error(handle->get(), reason.data(), reason.size()), RD_KAFKA_RESP_ERR_NO_ERROR)
        << reason.data();
    eos_state out;
    eventually(
        [&] {
            rd_kafka_poll(handle->get(), 100);
            const std::scoped_lock lock(state.mutex);
            out = state.last;
            return out.reported && (!idempotent || out.idemp_state == "Assigned");
        },
        10s);
    return out;
}

TEST_F(kafka_cluster_test, the_idempotent_producer_gets_a_producer_id_from_kafka_4_1) {
    const auto idempotent = producer_eos(cluster_->bootstrap(), true, topic);
    EXPECT_EQ(idempotent.idemp_state, "Assigned");
    EXPECT_GE(idempotent.producer_id, 0);
    const auto plain = producer_eos(cluster_->bootstrap(), false, topic);
    EXPECT_TRUE(plain.reported);
    EXPECT_NE(plain.idemp_state, "Assigned") << "the control: no idempotence, no producer id";
    EXPECT_EQ(plain.producer_id, -1);
}

}  // namespace
}  // namespace shopstream::testing
