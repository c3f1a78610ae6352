#pragma once
// Creating the log's topics and establishing its identity.
//
// Topics: `<ctx>.events` for each context with the configured partition count, and the
// single-partition identity topic. On a real cluster they are created through the Admin
// API (with unlimited retention: the log is the source of truth); on the embedded
// cluster through the mock API, which has no CreateTopics.
//
// Identity: a random id written once as the first record of the identity topic. Every
// process reads the FIRST record, so processes racing to write it still agree on one.
// Every state store remembers the identity it was built from (tail.hpp).
//
// Thread-safety: free functions, safe from any thread; each uses its own clients.

#include <chrono>
#include <string>

#include "base/result.hpp"
#include "eventstore/errc.hpp"
#include "eventstore/embedded_cluster.hpp"

namespace shopstream::eventstore {

// Checks, bounded by `timeout`, that the brokers at `bootstrap_servers` answer a
// Metadata request. Fails fast (about a second) when every bootstrap broker refuses or
// cannot be resolved ("all brokers are down (connection refused)"), at `timeout` when
// they never answer. librdkafka's own lines about the failed connections go to spdlog at
// debug level only: the returned error is the one line worth showing.
[[nodiscard]] result<void, error> probe_brokers(const std::string& bootstrap_servers,
                                                      std::chrono::milliseconds timeout);

// Creates missing topics; existing ones are kept. An existing events topic whose
// partition count differs from `partitions` is an error (keys would map elsewhere).
[[nodiscard]] result<void, error> ensure_topics(const std::string& bootstrap_servers, int partitions,
                                                      std::chrono::milliseconds timeout);

// The same on the embedded cluster (replication factor min(3, brokers)).
[[nodiscard]] result<void, error> create_topics(embedded_cluster& cluster, int partitions);

// Returns the log's identity, writing a fresh one if the identity topic is empty.
// Fails when the topic's first record is gone (retention) or is not an identity.
[[nodiscard]] result<std::string, error> ensure_log_identity(const std::string& bootstrap_servers,
                                                                   std::chrono::milliseconds timeout);

}  // namespace shopstream::eventstore
