#pragma once
// The event store's errors as values a caller can branch on (redpanda's errc): a code,
// registered as a std::error_code category, and beside it the message for a person -
// which names the topic, partition, offset or directory and, where there is one, the fix.
//
// Thread-safety: values; the category is a function-local static, safe from any thread.

#include <cstdint>
#include <ostream>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace shopstream::eventstore {

// Reaches logs and metrics labels: values only appended.
enum class errc : std::uint8_t {
    unreachable = 1,         // the brokers did not answer
    timed_out = 2,           // a deadline passed first
    missing_topic = 3,       // an event topic does not exist
    misconfigured = 4,       // a topic or client setting is not what the store needs
    foreign_log = 5,         // the store was built from another log (identity, partitions, offsets)
    records_lost = 6,        // the log no longer holds records the store needs (retention)
    store_failed = 7,        // the LMDB state store cannot be read or written
    unreadable_commit = 8,   // an applied commit holds an event this build cannot decode: upgrade
    tail_failed = 9,         // the tail stopped applying (see tail::failure())
    client_failed = 10,      // librdkafka refused a setting or could not create a client
};

[[nodiscard]] const std::error_category& error_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

struct error {
    errc code = errc::client_failed;
    std::string message;

    friend std::ostream& operator<<(std::ostream& out, const error& e) { return out << e.message; }
};

}  // namespace shopstream::eventstore

template <>
struct std::is_error_code_enum<shopstream::eventstore::errc> : std::true_type {};

// Logged as its message: spdlog::error("{}", e).
template <>
struct fmt::formatter<shopstream::eventstore::error> : fmt::formatter<std::string> {
    auto format(const shopstream::eventstore::error& e, fmt::format_context& ctx) const {
        return fmt::formatter<std::string>::format(e.message, ctx);
    }
};
