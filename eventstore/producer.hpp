#pragma once
// Appends commit records to the context topics: librdkafka's idempotent producer
// (enable.idempotence, acks=all), so a broker failover neither loses nor reorders a
// partition's records. The partition is chosen here with Kafka's murmur2 hash of the
// aggregate id, exactly as the Java client's default partitioner does, so every client
// puts an aggregate's commits in the same partition.
//
// Back-pressure: when librdkafka's local queue is full, append() fails at once with
// append_errc::backpressure (by default; `enqueue_timeout` lets a caller that may block
// wait for room that long) - it never drops a record silently and never blocks forever.
// On the producer's own delivery thread it never waits, whatever `enqueue_timeout` says:
// only that thread drains the queue it would be waiting on.
//
// A failed delivery says what the client may be told (rd_kafka_message_status()):
// not_persisted - the record is not in the log; possibly_persisted - it was sent and not
// acknowledged, so it may be in the log and may still win.
//
// Thread-safety: append(), partition_for() and flush() may be called from any threads.
// Completion callbacks run on the producer's delivery thread (or inline when append()
// fails before enqueueing); they must be short and must not call flush() or destroy
// the producer.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/context.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/log_ports.hpp"
#include "eventstore/position.hpp"

namespace shopstream::eventstore {

struct producer_options {
    std::string bootstrap_servers;
    std::vector<context> contexts{all_contexts.begin(), all_contexts.end()};
    std::chrono::milliseconds linger{1};
    std::chrono::milliseconds delivery_timeout{30'000};  // message.timeout.ms
    std::chrono::milliseconds enqueue_timeout{0};  // how long append() may wait for queue room
    std::chrono::milliseconds metadata_timeout{10'000};
    int queue_messages = 100'000;  // records waiting in all of its clients together
    // Clients (connections to each broker) the partitions are spread over: partition p of
    // every topic goes through client p % connections. librdkafka 2.0.2 puts one partition
    // in each ProduceRequest and a Kafka broker handles one request per connection at a
    // time, so with one connection a broker that fsyncs every append serves the partitions
    // one after another (benchmarks/README.md, "HTTP commands on the local broker"). Each
    // client is its own idempotent producer; a partition's records all go through one.
    int connections = 1;
    // Passed to librdkafka as they are (tuning, tests); they win over the settings above.
    std::map<std::string, std::string> extra;
};

class producer final : public commit_appender {
public:
    [[nodiscard]] static result<std::unique_ptr<producer>, error> start(producer_options options);

    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;
    // Flushes (bounded by delivery_timeout), then fails what is still pending.
    ~producer();

    // Enqueues one record with key `key` to the context's topic, partition
    // partition_for(ctx, key). `done` is called exactly once with the record's position or
    // the reason it is not known to be in the log.
    void append(context ctx, aggregate_ref key, std::span<const std::uint8_t> value,
                const commit_metadata& metadata, append_callback done) override;

    [[nodiscard]] partition_id partition_for(context ctx, std::string_view key) const;
    [[nodiscard]] std::int32_t partition_count(context ctx) const;

    // Waits until every enqueued record is acknowledged or failed.
    [[nodiscard]] result<void, error> flush(std::chrono::milliseconds timeout);

    // Records enqueued and not yet acknowledged or failed.
    [[nodiscard]] std::int64_t in_flight() const noexcept { return in_flight_.load(); }

    // The first underlying client (every client reaches every broker), for probes and for
    // tests that inspect it. Owned by the producer.
    [[nodiscard]] rd_kafka_t* client() const noexcept { return clients_.front().get(); }

private:
    producer(producer_options options, std::vector<kafka::handle> clients, std::map<context, std::int32_t> partitions);
    static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
    void poll_loop(rd_kafka_t* client);

    producer_options options_;
    std::vector<kafka::handle> clients_;  // never empty
    std::map<context, std::int32_t> partitions_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::int64_t> in_flight_{0};
    std::vector<std::thread> pollers_;  // one per client
};

}  // namespace shopstream::eventstore
