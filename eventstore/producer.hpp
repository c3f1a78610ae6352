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
// Fatal errors: an idempotent producer that can no longer keep its ordering guarantee
// (librdkafka's "fatal error", e.g. OUT_OF_ORDER_SEQUENCE_NUMBER after a leader change,
// seen on the real three-broker cluster) refuses every later record for good. Each client
// is therefore a *lane* that its poller replaces with a new idempotent producer (a new
// producer id) as soon as the fatal error is raised. What the old client had queued and
// not sent is reported not_persisted (librdkafka purges it); what it had in flight is
// reported as the broker answers it or as it times out, the old client being polled until
// nothing is left. An append() that meets the fatal client waits (bounded; never on the
// delivery thread) for the replacement and is sent through it. A record in flight on the
// old client and one sent through the new may reach the log in either order: the apply
// rule arbitrates, as it does between two writers.
//
// Thread-safety: append(), partition_for() and flush() may be called from any threads.
// Completion callbacks run on the producer's delivery thread (or inline when append()
// fails before enqueueing); they must be short and must not call flush() or destroy
// the producer.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
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

    // The client partition `p` of every topic goes through now (every client reaches
    // every broker), for probes and for tests that inspect it or inject a fatal error into
    // it. Owned by the producer; after a fatal error it is replaced and destroyed once its
    // last in-flight record is reported, so hold it only while nothing can fail it.
    [[nodiscard]] rd_kafka_t* client(std::int32_t partition = 0) const;

    // Clients replaced after a fatal error since start (all lanes).
    [[nodiscard]] std::int64_t replacements() const noexcept { return replacements_.load(); }

private:
    struct lane {
        mutable std::shared_mutex mutex;  // shared to produce through `current`, unique to replace it
        std::condition_variable_any replaced;
        kafka::handle current;            // written only by the lane's poller, under `mutex`
        std::uint64_t generation = 0;     // guarded by `mutex`
        std::vector<kafka::handle> retired;  // fatal clients still reporting: the poller's, then the destructor's
    };

    producer(producer_options options, std::map<std::string, std::string> settings, std::vector<kafka::handle> clients,
             std::map<context, std::int32_t> partitions);
    static result<kafka::handle, error> make_lane_client(const std::map<std::string, std::string>& settings);
    static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
    void poll_loop(lane& l, std::size_t index);
    void replace_fatal_client(lane& l, std::size_t index);

    producer_options options_;
    std::map<std::string, std::string> settings_;  // every client's, to build replacements
    std::vector<std::unique_ptr<lane>> lanes_;     // never empty
    std::map<context, std::int32_t> partitions_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::int64_t> in_flight_{0};
    std::atomic<std::int64_t> replacements_{0};
    std::vector<std::thread> pollers_;  // one per lane
};

}  // namespace shopstream::eventstore
