#pragma once
// Encoding of the Review events (domain/review/review.hpp) for the log: each event
// becomes (type id, schema version, payload), the payload a size-prefixed FlatBuffers
// `envelope` (domain/review/review_events.fbs, file identifier "SSRV"). The size prefix
// makes every truncation detectable; decode() verifies the bytes before reading any of
// them and refuses values the domain does not allow. Pure functions, safe from any thread.

#include <cstdint>
#include <span>

#include "domain/review/review.hpp"
#include "eventstore/codec/event_codec.hpp"

namespace shopstream::eventstore::review_codec {

// The type id and schema version are the event's own (review_submitted::type_id, ...).
[[nodiscard]] encoded_event encode(const domain::review::event& e);

// Errors, checked in this order:
//   unknown_type         `type` is not a review event's type id;
//   unsupported_version  `schema_version` is not 1 (older or newer data needs an upcaster);
//   verification_failed  wrong size prefix, file identifier, or the FlatBuffers verifier
//                        refused the bytes (truncated, corrupt, not a review envelope);
//   type_mismatch        the envelope holds another event than `type` names;
//   invalid_value        a field is missing or holds what the domain never produces
//                        (rating outside 1-5, unknown role, invalid UTF-8 text, malformed
//                        id or sku, a review id not derived from its sku and author).
// The payload may sit at any address: a misaligned one is copied before it is read.
[[nodiscard]] decoded<domain::review::event> decode(std::uint16_t type,
                                                    std::uint16_t schema_version,
                                                    std::span<const std::uint8_t> payload);

}  // namespace shopstream::eventstore::review_codec
