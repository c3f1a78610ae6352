#pragma once
// Small helpers over librdkafka's C configuration API shared by the producer, the tail
// and the aggregate reader: RAII handles and a checked `set`. Internal to eventstore/.

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "base/result.hpp"

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
[[nodiscard]] result<conf, std::string> make_conf(const std::map<std::string, std::string>& settings);

// Creates a client of `type` from `settings` (the conf is consumed either way).
[[nodiscard]] result<handle, std::string> make_client(rd_kafka_type_t type, conf settings);

}  // namespace shopstream::eventstore::kafka
