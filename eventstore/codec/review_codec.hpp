#pragma once
// Encoding of the Review events (domain/review/review.hpp) for the log: each event
// becomes (type id, schema version, payload), the payload a size-prefixed FlatBuffers
// `envelope` (domain/review/review_events.fbs, file identifier "SSRV"). The size prefix
// makes every truncation detectable; decode() verifies the bytes before reading any of
// them and refuses values the domain does not allow. Pure functions, safe from any thread.

#include <cstdint>
#include <span>
#include <vector>

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

// ---- state snapshots (the state store's value, ARCHITECTURE.md decision 2) ----------
//
// The review state as bytes: a size-prefixed FlatBuffers `snapshot`
// (eventstore/codec/review_state.fbs, file identifier "SSRS"). initial_state() — the
// review does not exist — encodes to EMPTY bytes, and empty bytes decode to
// initial_state(); every other state encodes to a non-empty buffer.
// decode_state(encode_state(s)) == s for every state evolve() can reach from
// initial_state() over events decode() accepts, including histories no decider would
// produce: evolve is total, so the tail must be able to store whatever the log makes of
// a state. Hence each field is checked on its own — it holds its initial value or one an
// event could have put there — and against others only where evolve derives it from
// them; command limits are not re-checked (as for events).

[[nodiscard]] std::vector<std::uint8_t> encode_state(const domain::review::state& s);

// Errors:
//   verification_failed  wrong size prefix, file identifier (another context's snapshot
//                        included), or the FlatBuffers verifier refused the bytes;
//   invalid_value        a field holds what no review event could have put there: an
//                        unknown status, a rating outside 1-5 (0 before submission), text
//                        that is not valid UTF-8, a malformed sku or customer id, an id
//                        that is not review_id_for(sku, author), a generation of 0
//                        with a status other than none or the other way round, a
//                        missing field; or the bytes hold
//                        initial_state(), which is only ever stored as empty bytes.
// The bytes may sit at any address: misaligned ones are copied before they are read.
[[nodiscard]] decoded<domain::review::state> decode_state(std::span<const std::uint8_t> bytes);

}  // namespace shopstream::eventstore::review_codec
