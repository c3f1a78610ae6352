#pragma once
// Creating the log's topics and establishing its identity.
//
// Topics: `<ctx>.events` for each context with the configured partition count, the
// single-partition identity topic, and `<ctx>.events.dlq` for each context (the
// projections' dead letters, created with the same guarantees). On a real cluster they are created through the Admin
// API with the guarantees the log needs as the source of truth (ARCHITECTURE.md decision
// 12: replication min(3, brokers), min.insync.replicas min(2, replication),
// cleanup.policy=delete, unlimited retention, no unclean leader election); on the
// embedded cluster through the mock API, which has no CreateTopics.
//
// Guarantees: judge_topic_guarantees() is the pure rule over a topic's configuration;
// check_topic_guarantees() reads the existing topics' configuration (DescribeConfigs)
// and applies it. librdkafka's mock implements no DescribeConfigs: the check says so.
//
// Identity: a random id written once as the first record of the identity topic. Every
// process reads the FIRST record, so processes racing to write it still agree on one.
// Every state store remembers the identity it was built from (tail.hpp).
//
// Thread-safety: free functions, safe from any thread; each uses its own clients.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "eventstore/errc.hpp"
#include "eventstore/embedded_cluster.hpp"

namespace shopstream::eventstore {

// Checks, bounded by `timeout`, that the brokers at `bootstrap_servers` answer a
// Metadata request. Fails fast (about a second) when every bootstrap broker refuses or
// cannot be resolved ("all brokers are down (connection refused)"), at `timeout` when
// they never answer, at the first refusal of the SASL credentials (errc::authentication_failed,
// "authentication failed at HOST:PORT: invalid credentials with SASL mechanism ...": a
// retry cannot help). librdkafka's own lines about the failed connections go to spdlog at
// debug level only: the returned error is the one line worth showing.
[[nodiscard]] result<void, error> probe_brokers(const std::string& bootstrap_servers,
                                                      std::chrono::milliseconds timeout,
                                                      const std::map<std::string, std::string>& client_settings = {});

// Creates missing topics with the guarantees above; existing ones are kept (their
// settings are check_topic_guarantees()'s business). An existing events topic whose
// partition count differs from `partitions` is an error (keys would map elsewhere).
// `client_settings` (--kafka-config) go to the admin client as they are.
[[nodiscard]] result<void, error> ensure_topics(const std::string& bootstrap_servers, int partitions,
                                                      std::chrono::milliseconds timeout,
                                                      const std::map<std::string, std::string>& client_settings = {});

// The same on the embedded cluster (replication factor min(3, brokers)).
[[nodiscard]] result<void, error> create_topics(embedded_cluster& cluster, int partitions);

// Returns the log's identity, writing a fresh one if the identity topic is empty.
// Fails when the topic's first record is gone (retention) or is not an identity.
[[nodiscard]] result<std::string, error> ensure_log_identity(const std::string& bootstrap_servers,
                                                                   std::chrono::milliseconds timeout,
                                                                   const std::map<std::string, std::string>& client_settings = {});

// ---- topic guarantees (ARCHITECTURE.md decision 12) ----

// The settings a topic is created with on a cluster of `brokers` brokers.
[[nodiscard]] int replication_for(int brokers) noexcept;          // min(3, brokers), at least 1
[[nodiscard]] int min_insync_for(int replication) noexcept;       // min(2, replication), at least 1
[[nodiscard]] std::map<std::string, std::string> guaranteed_topic_settings(int brokers);

// One topic as the cluster describes it: its smallest partition replica count (metadata)
// and its effective configuration (DescribeConfigs: name -> value, defaults included).
struct topic_description {
    std::string topic;
    int replication = 0;
    std::map<std::string, std::string> config;
};

// One finding of the judgement. `refuse`: a setting that lets an acknowledged commit be
// lost or deleted; `note`: allowed, worth a log line (a single-node cluster keeps one copy).
struct topic_verdict {
    enum class kind : std::uint8_t { refuse, note };
    kind severity = kind::refuse;
    std::string topic;
    std::string setting;  // "cleanup.policy", "replication.factor", ...
    std::string value;    // as the cluster reported it
    std::string message;  // one line: the topic, the setting, why, and the fix
};

// Pure: the verdicts on `topics` for a cluster of `brokers` brokers, in topic order.
// Refused: cleanup.policy with compact; retention.ms or retention.bytes other than -1;
// unclean.leader.election.enable=true; and, with more than one broker, a replication
// factor below 2 or min.insync.replicas below 2 (one broker could acknowledge alone).
// A missing setting is judged by Kafka's default for it (delete, 7 days, -1, false, 1).
[[nodiscard]] std::vector<topic_verdict> judge_topic_guarantees(const std::vector<topic_description>& topics,
                                                                int brokers);

// What check_topic_guarantees() found: `checked` is false when the cluster cannot
// describe configurations (librdkafka's mock), with `unchecked_reason` saying so.
struct topic_guarantee_report {
    bool checked = false;
    std::string unchecked_reason;
    int brokers = 0;
    std::vector<topic_verdict> verdicts;
};

// Reads the metadata and the configuration of the event topics and the identity topic
// (those that exist) and judges them. Fails when the cluster cannot be asked at all.
[[nodiscard]] result<topic_guarantee_report, error> check_topic_guarantees(
    const std::string& bootstrap_servers, std::chrono::milliseconds timeout,
    const std::map<std::string, std::string>& client_settings = {});

}  // namespace shopstream::eventstore
