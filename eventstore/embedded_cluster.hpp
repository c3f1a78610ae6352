#pragma once
// An in-process Kafka cluster: librdkafka's mock cluster (rdkafka_mock.h), which speaks
// the real Kafka protocol over TCP on 127.0.0.1, so any client - this process's own
// producers and tails, other processes, kcat, Java clients - can use bootstrap_servers().
// `shopstream serve` runs on it when no --brokers are given (ARCHITECTURE.md decision
// 11), and the tests use it for everything Kafka.
//
// It is EPHEMERAL: the log lives in memory and is gone when the object is destroyed, and
// each partition keeps at most 5 MiB (or 100 000 batches); older records are dropped
// silently. Readers therefore must check the log start offset against their checkpoint.
// The mock has no CreateTopics, read_committed, transaction fencing, TxnOffsetCommit or
// timestamp lookups; create topics with create_topic().
//
// The cluster is owned by a dedicated producer handle that never produces: the mock's
// server-side sockets inherit that handle's socket options, so it sets
// socket.nagle.disable=true (without it, pipelined requests stall ~40 ms), and it logs
// only errors.
//
// Thread-safety: bootstrap_servers() is immutable after start(). create_topic() and
// every rd_kafka_mock_* call on mock() may be made from any thread (librdkafka hands
// them to the cluster's own thread). Moving or destroying the object must not race with
// any other use of it. Destroying it stops the brokers: clients still connected see
// their connections fail.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "base/result.hpp"
#include "eventstore/errc.hpp"

namespace shopstream::eventstore {

// The tail's fetch wait on this cluster (tail_options::fetch_wait). The mock holds an idle
// fetch for the whole wait even when a record arrives meanwhile (a real broker answers at
// once), so the wait is part of every verdict's latency. Measured with
// benchmarks/http/run.sh: 5 ms → 2 ms takes p50 at 8 connections from 5.9 to 3.3 ms and 64
// connections from 10.0 k to 12.1 k commands/s, for 11 % instead of 6.5 % of a core when
// idle (1 ms: 18 %; 0: 160 %).
inline constexpr std::chrono::milliseconds embedded_fetch_wait{2};

class embedded_cluster {
public:
    // Starts `brokers` brokers (ids 1..brokers) listening on ephemeral loopback ports.
    // brokers < 1 is errc::invalid_argument.
    [[nodiscard]] static result<embedded_cluster, error> start(int brokers = 3);

    embedded_cluster(embedded_cluster&& other) noexcept;
    embedded_cluster& operator=(embedded_cluster&& other) noexcept;
    embedded_cluster(const embedded_cluster&) = delete;
    embedded_cluster& operator=(const embedded_cluster&) = delete;
    ~embedded_cluster();

    // "127.0.0.1:port,127.0.0.1:port,..." for bootstrap.servers.
    [[nodiscard]] const std::string& bootstrap_servers() const noexcept { return bootstrap_; }
    [[nodiscard]] int broker_count() const noexcept { return brokers_; }

    // Creates a topic; fails if it exists or the arguments are out of range
    // (1 <= replication_factor <= broker_count(); the mock would silently clamp it):
    // errc::topic_exists, errc::invalid_argument.
    [[nodiscard]] result<void, error> create_topic(std::string_view name, int partitions,
                                                         int replication_factor);

    // For fault injection: rd_kafka_mock_broker_set_down/up, _set_rtt,
    // rd_kafka_mock_partition_set_leader, rd_kafka_mock_push_request_errors, ...
    // Owned by this object; null after it was moved from. Each rd_kafka_mock_* call is a
    // request to the cluster's thread, which in librdkafka 2.0.2 can miss the wake-up
    // and answer only after up to 1 s when no client traffic keeps it busy; request()
    // avoids that.
    [[nodiscard]] rd_kafka_mock_cluster_t* mock() const noexcept { return mock_; }

    // Makes one rd_kafka_mock_* call on mock() and wakes the cluster's thread should it
    // not answer within a few milliseconds. RD_KAFKA_RESP_ERR__STATE if moved from.
    //   cluster.request([](auto* m) { return rd_kafka_mock_broker_set_down(m, 1); });
    rd_kafka_resp_err_t request(const std::function<rd_kafka_resp_err_t(rd_kafka_mock_cluster_t*)>& call);

private:
    embedded_cluster(rd_kafka_t* owner, rd_kafka_mock_cluster_t* mock, int brokers);
    void destroy() noexcept;
    template <class Call>
    static auto served_promptly(const std::vector<std::uint16_t>& ports, Call call);

    rd_kafka_t* owner_ = nullptr;
    rd_kafka_mock_cluster_t* mock_ = nullptr;
    int brokers_ = 0;
    std::string bootstrap_;
    std::vector<std::uint16_t> ports_;  // of the brokers, to wake the cluster's thread
};

}  // namespace shopstream::eventstore
