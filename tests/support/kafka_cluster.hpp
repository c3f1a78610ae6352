#pragma once
// A real Apache Kafka cluster for tests: three KRaft nodes (adapters/kafka/local_broker:
// each a JVM running broker+controller, static voters, its own log dir under one temp
// dir, fixed free loopback ports kept across restarts), internal topics replicated to 3.
// A JVM takes 10-20 s to be ready on this machine, so a test binary shares one cluster
// (shared_kafka_cluster()) and each test starts from fresh topics (reset_topics()).
//
// Faults: kill() (SIGKILL, a crash), restart() (the same log dir and ports), pause()
// (SIGSTOP: frozen with its sockets open), resume() (SIGCONT), and leader_of() to aim
// them. The fault tests (history-check) build on these.
//
// Secured clients: started with SCRAM users, every node also has a SASL_PLAINTEXT
// listener (SCRAM-SHA-512) at sasl_bootstrap(); the shared cluster has one user,
// scram_users().front(), with a password generated for the run.
//
// Thread-safety: bootstrap() and the const accessors are safe from any thread; the
// broker controls and topic calls from the test's thread (the one that started the
// cluster: PR_SET_PDEATHSIG fires when it ends).

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/kafka/local_broker.hpp"
#include "base/result.hpp"
#include "eventstore/position.hpp"

namespace shopstream::testing {

struct topic_spec;  // kafka_fixture.hpp

class kafka_cluster {
public:
    // Starts `brokers` nodes in a fresh temp dir and waits until every one answers and
    // lists all of them. `settings` go into every node's server.properties; with
    // `scram_users` every node gets a SASL_PLAINTEXT listener and the users; `libs`: the
    // jars of another Kafka than the product's (scram_kafka_libs()).
    [[nodiscard]] static result<std::unique_ptr<kafka_cluster>, std::string> start(
        int brokers = 3, std::vector<std::pair<std::string, std::string>> settings = {},
        std::vector<adapters::kafka::scram_user> scram_users = {}, std::filesystem::path libs = {});

    kafka_cluster(const kafka_cluster&) = delete;
    kafka_cluster& operator=(const kafka_cluster&) = delete;
    ~kafka_cluster();  // SIGKILLs the nodes (a test's data is worth no shutdown), removes the dir

    // Every node's listener, for bootstrap.servers / serve --brokers.
    [[nodiscard]] const std::string& bootstrap() const noexcept { return bootstrap_; }
    // Every node's SASL_PLAINTEXT listener; empty when started without SCRAM users.
    [[nodiscard]] const std::string& sasl_bootstrap() const noexcept { return sasl_bootstrap_; }
    [[nodiscard]] const std::vector<adapters::kafka::scram_user>& scram_users() const noexcept { return scram_users_; }
    [[nodiscard]] int broker_count() const noexcept { return static_cast<int>(nodes_.size()); }
    // Node ids are 1..broker_count().
    [[nodiscard]] adapters::kafka::local_broker& broker(int node_id);
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return directory_; }

    void kill(int node_id);
    // Starts a stopped or killed node again on its log dir; waits until it answers.
    [[nodiscard]] result<void, std::string> restart(int node_id);
    [[nodiscard]] result<void, std::string> pause(int node_id);
    [[nodiscard]] result<void, std::string> resume(int node_id);

    // The node leading `topic`'s `partition` now, as the cluster's metadata says (from
    // any node that answers); fails when it has no leader (an election under way).
    [[nodiscard]] result<int, std::string> leader_of(const std::string& topic, eventstore::partition_id partition,
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

    // Waits until every partition of `topic` has a leader and all broker_count() replicas
    // in sync (e.g. after a restart(), before the next fault).
    [[nodiscard]] result<void, std::string> await_fully_replicated(
        const std::string& topic, std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

    // Deletes every topic that is not internal ("__..."), waits until they are gone, then
    // creates `topics` and waits until each is fully replicated. The project's event
    // topics (default_topics()) are created the way serve creates them
    // (eventstore::ensure_topics, with the identity topic); any others through CreateTopics
    // with the spec's partitions and replication min(spec, broker_count()).
    [[nodiscard]] result<void, std::string> reset_topics(const std::vector<topic_spec>& topics);

private:
    kafka_cluster() = default;

    std::filesystem::path directory_;
    std::string bootstrap_;
    std::string sasl_bootstrap_;
    std::vector<adapters::kafka::scram_user> scram_users_;
    std::vector<std::unique_ptr<adapters::kafka::local_broker>> nodes_;
};

// One three-node cluster per test binary (with its SCRAM user), started on first use and
// killed when the binary exits. Throws std::runtime_error (failing the calling test) when it cannot start; later
// calls rethrow the same error without trying again.
kafka_cluster& shared_kafka_cluster();

// The Kafka whose SCRAM librdkafka 2.0.2 can speak: Kafka 4.x refuses its client-final
// message even with the right password (scripts/kafka/scram-3.9/pom.xml says why). Its jars:
// $SHOPSTREAM_KAFKA_SCRAM_LIBS, else ~/.cache/shopstream/kafka-<scram_kafka_version>/libs
// (scripts/install-deps.sh).
inline constexpr const char* scram_kafka_version = "3.9.1";
[[nodiscard]] std::filesystem::path scram_kafka_libs();

// Whether the broker(s) at `bootstrap` answer a Metadata request within `timeout` (a paused
// node does not).
[[nodiscard]] bool node_answers(const std::string& bootstrap, std::chrono::milliseconds timeout);

// Which Kafka the kafka_fixture users run on: $SHOPSTREAM_TEST_KAFKA = "real" (the shared
// three-node cluster) or "mock" (librdkafka's mock cluster, the default).
[[nodiscard]] bool real_kafka_requested();

}  // namespace shopstream::testing
