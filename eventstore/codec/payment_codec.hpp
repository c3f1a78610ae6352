#pragma once
// Encoding of the Payment events (domain/payment/payment.hpp) for the log: each event
// becomes (type id, schema version, payload), the payload a size-prefixed FlatBuffers
// `envelope` (domain/payment/payment_events.fbs, file identifier "SSPY"). The size
// prefix makes every truncation detectable; decode() verifies the bytes before reading
// any of them and refuses values the domain does not allow. Pure functions, safe from
// any thread.

#include <cstdint>
#include <span>
#include <vector>

#include "domain/payment/payment.hpp"
#include "eventstore/codec/event_codec.hpp"

namespace shopstream::eventstore::payment_codec {

// The type id and schema version are the event's own (payment_requested::type_id, ...).
// Any value encodes; only values the deciders can produce decode again (see below).
[[nodiscard]] encoded_event encode(const domain::payment::event& e);

// Errors, checked in this order:
//   unknown_type         `type` is not a payment event's type id;
//   unsupported_version  `schema_version` is not the event's (1; others need an upcaster);
//   verification_failed  wrong size prefix, file identifier, or the FlatBuffers verifier
//                        refused the bytes (truncated, corrupt, not a payment envelope);
//   type_mismatch        the envelope holds another event (or none) than `type` names;
//   invalid_value        a field is missing or holds what the domain never produces
//                        (inactive currency, negative amount, malformed id, an empty or
//                        non-printable-ASCII token or code, empty or invalid UTF-8 text).
// Length limits and amount ceilings are not re-checked: they are command policy, and a
// log written under older limits must stay readable if they change.
// The payload may sit at any address: a misaligned one is copied before it is read.
[[nodiscard]] decoded<domain::payment::event> decode(std::uint16_t type,
                                                     std::uint16_t schema_version,
                                                     std::span<const std::uint8_t> payload);

// ---- state snapshots (the state store's value, ARCHITECTURE.md decision 2) ----------
//
// The payment state as bytes: a size-prefixed FlatBuffers `snapshot`
// (eventstore/codec/payment_state.fbs, file identifier "SSPS"). initial_state() — the
// payment does not exist — encodes to EMPTY bytes, and empty bytes decode to
// initial_state(); every other state encodes to a non-empty buffer.
// decode_state(encode_state(s)) == s for every state evolve() can reach from
// initial_state() over events decode() accepts, including histories no decider would
// produce: evolve is total, so the tail must be able to store whatever the log makes of
// a state. Hence each field is checked on its own — it holds its initial value or one an
// event could have put there — and against others only where evolve derives it from
// them; command limits are not re-checked (as for events).

[[nodiscard]] std::vector<std::uint8_t> encode_state(const domain::payment::state& s);

// Errors:
//   verification_failed  wrong size prefix, file identifier (another context's snapshot
//                        included), or the FlatBuffers verifier refused the bytes;
//   invalid_value        a field holds what no payment event could have put there: an
//                        unknown status, a malformed id or refund id, an inactive
//                        currency, a negative amount, a token or code that is not
//                        printable ASCII, a reason that is not valid UTF-8, `refunded`
//                        other than the (saturating) sum of `refunds`, a missing field;
//                        or the bytes hold initial_state(), which is only ever stored as
//                        empty bytes.
// The bytes may sit at any address: misaligned ones are copied before they are read.
[[nodiscard]] decoded<domain::payment::state> decode_state(std::span<const std::uint8_t> bytes);

}  // namespace shopstream::eventstore::payment_codec
