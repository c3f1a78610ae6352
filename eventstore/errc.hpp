#pragma once
// The event store's errors as values a caller can branch on (redpanda's errc): a code,
// registered as a std::error_code category, and beside it the message for a person -
// which names the topic, partition, offset or directory and, where there is one, the fix.
//
// The shape (error<errc>, the category, the fmt formatter) is base/error.hpp's.
//
// Thread-safety: values; the category is a function-local static, safe from any thread.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "base/error.hpp"

namespace shopstream::eventstore {

// Reaches logs and metrics labels: values only appended.
enum class errc : std::uint8_t {
    unreachable = 1,         // the brokers did not answer
    timed_out = 2,           // a deadline passed first
    missing_topic = 3,       // an event topic does not exist
    misconfigured = 4,       // a topic or client setting is not what the store needs
    foreign_log = 5,         // the store was built from another log (identity, partitions, offsets)
    records_lost = 6,        // the log no longer holds records the store needs (retention)
    store_failed = 7,        // a store cannot be read or written: the LMDB state store, a read model (LMDB, PostgreSQL)
    unreadable_commit = 8,   // an applied commit holds an event this build cannot decode: upgrade
    tail_failed = 9,         // the tail stopped applying (see tail::failure())
    client_failed = 10,      // librdkafka could not create a client, or a client call failed
    invalid_setting = 11,    // librdkafka refused a configuration setting (name or value)
    log_mismatch = 12,       // the log does not hold, byte for byte, the commit the state store serves
    invalid_argument = 13,   // an argument out of range (broker count, partitions, a moved-from object)
    topic_exists = 14,       // create_topic() of a topic the cluster already has
    authentication_failed = 15,  // a broker refused the client's SASL credentials
};

[[nodiscard]] const char* category_name(errc) noexcept;
[[nodiscard]] std::string_view describe(errc e) noexcept;

[[nodiscard]] inline const std::error_category& error_category() noexcept { return category_of<errc>(); }

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

using error = shopstream::error<errc>;

}  // namespace shopstream::eventstore

template <>
struct std::is_error_code_enum<shopstream::eventstore::errc> : std::true_type {};
