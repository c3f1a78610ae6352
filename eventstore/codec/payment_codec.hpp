#pragma once
// Encoding of the Payment events (domain/payment/payment.hpp) for the log: each event
// becomes (type id, schema version, payload), the payload a size-prefixed FlatBuffers
// `envelope` (domain/payment/payment_events.fbs, file identifier "SSPY"). The size
// prefix makes every truncation detectable; decode() verifies the bytes before reading
// any of them and refuses values the domain does not allow. Pure functions, safe from
// any thread.

#include <cstdint>
#include <span>

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

}  // namespace shopstream::eventstore::payment_codec
