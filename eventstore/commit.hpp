#pragma once
// The commit record and its codec. One Kafka record per command: key = aggregate id,
// value = FlatBuffers `commit` (eventstore/commit.fbs), headers = metadata a foreign
// client (kcat) can route and trace by without decoding the value. decode_commit()
// runs the FlatBuffers verifier and the size-prefix and identifier checks before
// reading anything. Pure functions, safe from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "eventstore/codec/event_codec.hpp"

namespace shopstream::eventstore {

// The format version of the commit record itself (the `schema-version` header).
inline constexpr std::uint16_t commit_schema_version = 1;

struct commit {
    std::string aggregate_id;
    std::uint64_t expected_version = 0;  // version decided on; 0 = the aggregate did not exist
    std::string command_id;
    std::vector<encoded_event> events;   // at least one

    // The version the aggregate has after this commit applies.
    [[nodiscard]] std::uint64_t resulting_version() const noexcept {
        return expected_version + events.size();
    }

    friend bool operator==(const commit&, const commit&) = default;
};

// A commit read in place (view_commit): every view points into the bytes it was read
// from, and is valid as long as they are.
class commit_view {
public:
    std::string_view aggregate_id;
    std::uint64_t expected_version = 0;
    std::string_view command_id;

    [[nodiscard]] std::size_t event_count() const noexcept { return event_count_; }
    // Precondition: i < event_count().
    [[nodiscard]] encoded_event_view event(std::size_t i) const noexcept;

private:
    friend result<commit_view, codec_error> view_commit(std::span<const std::uint8_t>, std::vector<std::uint8_t>&);
    const void* events_ = nullptr;  // the verified FlatBuffers vector of event entries
    std::size_t event_count_ = 0;
};

// Kafka record headers (all UTF-8 text). Empty values are not written.
struct commit_metadata {
    std::string command_type;    // header "type": the command ("place_order")
    std::string event_types;     // header "event-types": comma-separated event names
    std::string command_id;      // header "command-id"
    std::string correlation_id;  // header "correlation-id": the request that started it all
    std::string causation_id;    // header "causation-id": the message that caused this one
    std::string actor;           // header "actor": "<role>:<id>"
    std::string traceparent;     // header "traceparent": W3C trace context
};

namespace header {
inline constexpr std::string_view type = "type";
inline constexpr std::string_view schema_version = "schema-version";
inline constexpr std::string_view event_types = "event-types";
inline constexpr std::string_view command_id = "command-id";
inline constexpr std::string_view correlation_id = "correlation-id";
inline constexpr std::string_view causation_id = "causation-id";
inline constexpr std::string_view actor = "actor";
inline constexpr std::string_view traceparent = "traceparent";
}  // namespace header

[[nodiscard]] std::vector<std::uint8_t> encode_commit(const commit& c);

// Fails with verification_failed for anything the verifier refuses (truncated,
// corrupt, wrong identifier) and invalid_value for a verified commit that breaks the
// record's own rules (empty aggregate or command id, no events, version overflow).
[[nodiscard]] result<commit, codec_error> decode_commit(std::span<const std::uint8_t> bytes);

// The same checks as decode_commit(), without copying: the view points into `bytes`, or
// into `aligned_copy` when `bytes` does not sit at the 8-byte alignment FlatBuffers reads
// scalars at (then `aligned_copy` must outlive the view; reusing it across calls is what
// keeps a scan of many commits free of allocations).
[[nodiscard]] result<commit_view, codec_error> view_commit(std::span<const std::uint8_t> bytes,
                                                           std::vector<std::uint8_t>& aligned_copy);

}  // namespace shopstream::eventstore
