#pragma once
// What every context's event codec shares. An event travels as
//   (type id, schema version, payload)
// where the payload is a FlatBuffers buffer whose root is the context's `envelope`
// table (domain/<ctx>/<ctx>_events.fbs) holding the event in a union. Decoding runs
// the FlatBuffers verifier first and checks the buffer's file_identifier, so a corrupt
// or truncated payload is rejected, never read. Pure functions, safe from any thread.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace shopstream::eventstore {

enum class codec_errc : std::uint8_t {
    unknown_type = 0,         // no event of this context has this type id
    unsupported_version = 1,  // a schema version this build cannot read (needs an upcaster)
    verification_failed = 2,  // the FlatBuffers verifier or identifier check refused the bytes
    type_mismatch = 3,        // the payload holds another event than the type id says
    invalid_value = 4,        // well-formed bytes with a value the domain does not allow
};

struct codec_error {
    codec_errc code = codec_errc::verification_failed;
    std::string detail;
};

struct encoded_event {
    std::uint16_t type = 0;
    std::uint16_t schema_version = 0;
    std::vector<std::uint8_t> payload;

    friend bool operator==(const encoded_event&, const encoded_event&) = default;
};

// An encoded event read in place: `payload` points into the bytes it was read from.
struct encoded_event_view {
    std::uint16_t type = 0;
    std::uint16_t schema_version = 0;
    std::span<const std::uint8_t> payload;
};

template <class Event>
using decoded = result<Event, codec_error>;

}  // namespace shopstream::eventstore
