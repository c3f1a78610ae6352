#pragma once
// The librdkafka settings an operator gives every Kafka client of a process
// (`--kafka-config key=value`, `--kafka-config-file PATH`): TLS and SASL for a secured
// cluster (`security.protocol`, `sasl.mechanism`, `sasl.username`, ...), tuning.
//
// They are checked at start against librdkafka itself (an unknown key or a refused value
// fails in one line), and never name a setting the event store's correctness rests on
// (idempotence, acks, offsets, group ids: kafka_reserved_key()). Secret values
// (*password*, *secret*, private keys) are shown as `***` wherever settings are described.
// Each client applies them over its own settings (producer_options::extra and alike).
//
// Thread-safety: values and pure functions.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "eventstore/errc.hpp"

namespace shopstream::eventstore::kafka {

using client_settings = std::map<std::string, std::string>;

// True for a key whose value must never reach a log line: one containing "password" or
// "secret" (any case), and private keys in PEM (`ssl.key.pem`).
[[nodiscard]] bool is_secret_key(std::string_view key) noexcept;

// True for a key the event store sets itself and depends on (bootstrap.servers is
// --brokers; enable.idempotence, acks, group.id, offsets, partitioner, ...).
[[nodiscard]] bool is_reserved_key(std::string_view key) noexcept;

// Adds one "key=value" (spaces around either trimmed) to `into`; `origin` names where it
// came from in the error ("--kafka-config", "FILE:LINE"). A later value for a key wins.
[[nodiscard]] result<void, error> add_setting(client_settings& into, std::string_view key_value,
                                              std::string_view origin);

// Reads key=value lines; blank lines and lines starting with `#` (after spaces) are skipped.
[[nodiscard]] result<void, error> add_settings_file(client_settings& into, const std::filesystem::path& path);

// Checks every setting against a fresh librdkafka configuration and the reserved keys:
// the first bad one fails, in one line naming the key (and its value unless secret).
[[nodiscard]] result<void, error> validate(const client_settings& settings);

// "key=value key=*** ..." in key order, secrets masked; "none" when empty.
[[nodiscard]] std::string describe(const client_settings& settings);

}  // namespace shopstream::eventstore::kafka
