#pragma once
// Kafka for tests: an eventstore::embedded_cluster (librdkafka's mock cluster, real Kafka
// protocol on 127.0.0.1) with the project's topics - or, with SHOPSTREAM_TEST_KAFKA=real,
// the binary's shared three-node Apache Kafka cluster (kafka_cluster.hpp) with the same
// topics created afresh for each test - plus the few client helpers tests
// need: an idempotent acks=all producer that keeps its delivery reports, a reader that
// takes a whole topic from the beginning up to its end, and Java's default partitioner
// (murmur2) to predict where a key lands.
//
//   class my_test : public shopstream::testing::kafka_fixture {};
//   TEST_F(my_test, ...) {
//       auto producer = test_producer::create(producer_config(bootstrap())).value();
//       ... rd_kafka_mock_broker_set_down(mock(), 1); ...
//       auto records = consume_all(bootstrap(), "orders.events").value();
//   }
//
// See ARCHITECTURE.md "Known limits of the mock cluster" for what the mock does not do.
// Thread-safety: the fixture is used from the test's thread; a test_producer is
// thread-compatible (its delivery reports arrive during poll()/flush() on the calling
// thread); consume_all() and the free functions are safe from any thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include "base/result.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/kafka_config.hpp"
#include "tests/support/kafka_cluster.hpp"

namespace shopstream::testing {

struct topic_spec {
    std::string name;
    int partitions = 16;
    int replication_factor = 3;
};

// orders.events, payments.events, reviews.events: 16 partitions, replication factor 3.
[[nodiscard]] std::vector<topic_spec> default_topics();

// The Kafka one test runs on: a new 3-broker mock cluster, or (real_kafka_requested())
// the shared real cluster with every earlier topic deleted; `topics` created on either.
class test_kafka {
public:
    [[nodiscard]] static result<test_kafka, std::string> start(const std::vector<topic_spec>& topics);
    // The project's event topics and identity topic with `partitions` each, as serve
    // creates them (eventstore::create_topics on the mock, ensure_topics on a real cluster).
    [[nodiscard]] static result<test_kafka, std::string> start_with_event_topics(int partitions);

    [[nodiscard]] const std::string& bootstrap() const noexcept { return bootstrap_; }
    [[nodiscard]] bool real() const noexcept { return real_ != nullptr; }
    // nullptr on a real cluster.
    [[nodiscard]] eventstore::embedded_cluster* mock_cluster() noexcept { return mock_ ? &*mock_ : nullptr; }
    [[nodiscard]] const eventstore::embedded_cluster* mock_cluster() const noexcept { return mock_ ? &*mock_ : nullptr; }
    // nullptr on the mock.
    [[nodiscard]] kafka_cluster* real_cluster() const noexcept { return real_; }

private:
    test_kafka() = default;
    std::optional<eventstore::embedded_cluster> mock_;
    kafka_cluster* real_ = nullptr;
    std::string bootstrap_;
};

// Skips the rest of a test that needs the mock's fault injection (rd_kafka_mock_*) when it
// runs on a real cluster, saying why.
#define SHOPSTREAM_SKIP_ON_REAL_KAFKA(kafka, why)                                        \
    do {                                                                                 \
        if ((kafka).real()) GTEST_SKIP() << "needs the mock cluster's fault injection: " << (why); \
    } while (false)

// test_kafka per test, with topics() created. Fault injection goes through mock()
// (rd_kafka_mock_broker_set_down/up, _set_rtt, partition_set_leader, ...), which is
// nullptr on a real cluster: such tests begin with SHOPSTREAM_SKIP_ON_REAL_KAFKA.
class kafka_fixture : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // Override to create other topics.
    [[nodiscard]] virtual std::vector<topic_spec> topics() const { return default_topics(); }

    // The mock cluster; only for tests that skip on a real one.
    [[nodiscard]] eventstore::embedded_cluster& cluster() { return *kafka_->mock_cluster(); }
    [[nodiscard]] const std::string& bootstrap() const { return kafka_->bootstrap(); }
    [[nodiscard]] rd_kafka_mock_cluster_t* mock() const {
        return kafka_->real() ? nullptr : kafka_->mock_cluster()->mock();
    }
    [[nodiscard]] test_kafka& kafka() { return *kafka_; }
    [[nodiscard]] bool on_real_kafka() const { return kafka_ && kafka_->real(); }

private:
    std::optional<test_kafka> kafka_;
};

// ---- client configuration ---------------------------------------------------------------

// Settings as eventstore::kafka::make_conf takes them (which also builds the clients here).
using kafka_config = std::map<std::string, std::string>;

// Idempotent, acks=all, IPv4 (a real broker's 127.0.0.1 listeners), partitioner=murmur2_random (the Java client's default, so keys land
// where Java clients put them), no Nagle, short linger, reconnect backoff capped at 500 ms.
[[nodiscard]] kafka_config producer_config(std::string_view bootstrap);

// Manual assignment reader: no auto commit, partition EOF events, short fetch wait (an
// idle fetch on the mock is held for all of fetch.wait.max.ms). Needs a group.id only
// because librdkafka's assign() does; nothing is committed.
[[nodiscard]] kafka_config consumer_config(std::string_view bootstrap);

// ---- records ----------------------------------------------------------------------------

struct header {
    std::string name;
    std::optional<std::string> value;  // nullopt: a null header value
    friend bool operator==(const header&, const header&) = default;
};

struct record {
    std::optional<std::string> key;    // nullopt: null key
    std::optional<std::string> value;  // nullopt: null value (tombstone)
    std::vector<header> headers;
    // Where it was written: set in delivery reports and consumed records.
    std::int32_t partition = -1;
    std::int64_t offset = -1;
};

// Key, value and headers of a librdkafka message (plus partition and offset).
[[nodiscard]] record to_record(const rd_kafka_message_t& message);

// ---- producer ---------------------------------------------------------------------------

struct delivery {
    record sent;  // as acknowledged, with partition and offset
    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

class test_producer {
public:
    [[nodiscard]] static result<test_producer, std::string> create(const kafka_config& config);

    // Enqueues a copy of `r` (its partition and offset are ignored); waits while the local
    // queue is full. `partition` = RD_KAFKA_PARTITION_UA lets the partitioner choose.
    [[nodiscard]] result<void, std::string> produce(std::string_view topic, const record& r,
                                                    std::int32_t partition = RD_KAFKA_PARTITION_UA);

    // Serves delivery reports for up to `timeout`.
    void poll(std::chrono::milliseconds timeout);

    // Waits until everything is delivered; fails on timeout, on a failed delivery or on a
    // fatal producer error.
    [[nodiscard]] result<void, std::string> flush(
        std::chrono::milliseconds timeout = std::chrono::seconds(60));

    // Every delivery report so far, in arrival order.
    [[nodiscard]] const std::vector<delivery>& deliveries() const noexcept { return state_->deliveries; }

    [[nodiscard]] rd_kafka_t* handle() const noexcept { return handle_.get(); }

private:
    struct state {
        std::vector<delivery> deliveries;
        std::set<std::string> known_topics;  // whose metadata this producer has fetched
    };
    static void on_delivery(rd_kafka_t* handle, const rd_kafka_message_t* message, void* opaque);

    test_producer(std::unique_ptr<state> s, eventstore::kafka::handle h)
        : state_(std::move(s)), handle_(std::move(h)) {}

    std::unique_ptr<state> state_;      // heap: librdkafka holds its address as the opaque
    eventstore::kafka::handle handle_;  // destroyed first (declared last)
};

// ---- consumer ---------------------------------------------------------------------------

// Reads every partition of `topic` from its beginning until the end it has when each
// partition is reached (partition EOF); records in partition order, each partition in
// offset order. Fails if that takes longer than `timeout` or a fetch fails.
[[nodiscard]] result<std::vector<record>, std::string> consume_all(
    std::string_view bootstrap, std::string_view topic,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// How far `group`'s committed offsets are behind the ends of `topic`, summed over its
// partitions (a partition with nothing committed counts from its log start): 0 once the
// group's members are done with everything in the topic.
[[nodiscard]] result<std::int64_t, std::string> group_lag(std::string_view bootstrap, std::string_view group,
                                                          std::string_view topic);

// Number of partitions of `topic` according to the cluster's metadata.
[[nodiscard]] result<int, std::string> partition_count(std::string_view bootstrap, std::string_view topic);

// ---- Java's default partitioner ---------------------------------------------------------

// org.apache.kafka.common.utils.Utils.murmur2, as an unsigned 32-bit value.
[[nodiscard]] std::uint32_t java_murmur2(std::string_view bytes) noexcept;

// (murmur2(key) & 0x7fffffff) % partitions: where the Java producer puts a keyed record.
[[nodiscard]] std::int32_t java_partition(std::string_view key, int partitions) noexcept;

}  // namespace shopstream::testing
