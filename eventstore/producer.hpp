#pragma once
// Appends commit records to the context topics: librdkafka's idempotent producer
// (enable.idempotence, acks=all), so a broker failover neither loses nor reorders a
// partition's records. The partition is chosen here with Kafka's murmur2 hash of the
// aggregate id, exactly as the Java client's default partitioner does, so every client
// puts an aggregate's commits in the same partition.
//
// Back-pressure: when librdkafka's local queue is full, append() waits for room up to
// `enqueue_timeout` and then fails with append_errc::backpressure - it never drops a
// record silently and never blocks forever.
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
#include "eventstore/position.hpp"

namespace shopstream::eventstore {

struct producer_options {
    std::string bootstrap_servers;
    std::vector<context> contexts{all_contexts.begin(), all_contexts.end()};
    std::chrono::milliseconds linger{1};
    std::chrono::milliseconds delivery_timeout{30'000};  // message.timeout.ms
    std::chrono::milliseconds enqueue_timeout{2'000};
    std::chrono::milliseconds metadata_timeout{10'000};
    int queue_messages = 100'000;
    // Passed to librdkafka as they are (tuning, tests); they win over the settings above.
    std::map<std::string, std::string> extra;
};

enum class append_errc : std::uint8_t {
    backpressure = 0,     // the local queue stayed full for enqueue_timeout
    delivery_failed = 1,  // not acknowledged by the cluster (timeout, fatal error): the
                          // record may or may not be in the log
    invalid = 2,          // refused before sending (e.g. too large, unknown context)
};

struct append_error {
    append_errc code = append_errc::delivery_failed;
    std::string message;
};

using append_callback = std::function<void(result<position, append_error>)>;

class producer {
public:
    [[nodiscard]] static result<std::unique_ptr<producer>, std::string> start(producer_options options);

    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;
    // Flushes (bounded by delivery_timeout), then fails what is still pending.
    ~producer();

    // Enqueues one record with key `key` to the context's topic, partition
    // partition_for(ctx, key). `done` is called exactly once with the record's position or
    // the reason it is not known to be in the log.
    void append(context ctx, std::string_view key, std::span<const std::uint8_t> value,
                const commit_metadata& metadata, append_callback done);

    [[nodiscard]] std::int32_t partition_for(context ctx, std::string_view key) const;
    [[nodiscard]] std::int32_t partition_count(context ctx) const;

    // Waits until every enqueued record is acknowledged or failed.
    [[nodiscard]] result<void, std::string> flush(std::chrono::milliseconds timeout);

    // Records enqueued and not yet acknowledged or failed.
    [[nodiscard]] std::int64_t in_flight() const noexcept { return in_flight_.load(); }

    // The underlying client, for tests that inspect it. Owned by the producer.
    [[nodiscard]] rd_kafka_t* client() const noexcept { return client_.get(); }

private:
    producer(producer_options options, kafka::handle client, std::map<context, std::int32_t> partitions);
    static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
    void poll_loop();

    producer_options options_;
    kafka::handle client_;
    std::map<context, std::int32_t> partitions_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::int64_t> in_flight_{0};
    std::thread poller_;
};

// Kafka's murmur2 partitioner (the Java client's default for keyed records).
[[nodiscard]] std::int32_t murmur2_partition(std::string_view key, std::int32_t partition_count) noexcept;

}  // namespace shopstream::eventstore
