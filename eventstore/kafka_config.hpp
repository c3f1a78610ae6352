#pragma once
// Small helpers over librdkafka's C configuration API shared by the producer, the tail
// and the aggregate reader: RAII handles, a checked `set`, and librdkafka's own log
// lines routed through spdlog. Outside eventstore/ only the test support and the
// benchmarks use them, for the clients they drive by hand.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "eventstore/errc.hpp"

namespace shopstream::eventstore::kafka {

struct handle_deleter {
    void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
using handle = std::unique_ptr<rd_kafka_t, handle_deleter>;

struct conf_deleter {
    void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
using conf = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;

// Builds a configuration from key/value pairs; the first refused pair fails the whole.
// The configuration logs through spdlog (log_to_spdlog); librdkafka's `log_level`
// still decides what is logged at all. A refused pair is errc::invalid_setting, naming it.
[[nodiscard]] result<conf, error> make_conf(const std::map<std::string, std::string>& settings);

// Partition count of every topic the cluster has (topics with an error are left out).
// Asks for ALL topics on purpose: naming a missing topic in a Metadata request makes
// brokers with auto.create.topics.enable (and the mock) create it with their default
// partition count, which would silently move keys to other partitions. No answer within
// `timeout` is errc::unreachable.
[[nodiscard]] result<std::map<std::string, int>, error> partition_counts(
    rd_kafka_t* client, std::chrono::milliseconds timeout);

// Creates a client of `type` from `settings` (the conf is consumed either way); a refusal
// is errc::client_failed.
[[nodiscard]] result<handle, error> make_client(rd_kafka_type_t type, conf settings);

// librdkafka's log callback installed by make_conf: one line through spdlog's logger
// "kafka" (sharing the default logger's sinks, so --log-format applies), syslog `level`
// mapped to spdlog's levels, the client name and the facility in the message.
// Runs on librdkafka's threads: it takes no lock of ours and never throws.
void log_to_spdlog(const rd_kafka_t* rk, int level, const char* facility, const char* message) noexcept;

// rd_kafka_query_watermark_offsets, asked again while the partition has no leader yet (a
// broker starting or restarting, a topic just created: "not leader", "leader not
// available", an unknown partition) until `timeout` is spent, like librdkafka retries a
// produce. The mock never says so. Returns the last answer's error code.
[[nodiscard]] rd_kafka_resp_err_t watermarks_once_led(rd_kafka_t* rk, const std::string& topic, std::int32_t partition,
                                                      std::int64_t& low, std::int64_t& high,
                                                      std::chrono::milliseconds timeout);

}  // namespace shopstream::eventstore::kafka
