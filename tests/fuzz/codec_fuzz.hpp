#pragma once
// The two fuzz targets every context's codec gets (instantiated by <ctx>_events_fuzz.cpp
// and <ctx>_state_fuzz.cpp).
//
// Events: the input is a history (fuzz_support.hpp's event records). Each record goes
// through the context's decode(); what it accepts must re-encode under the same type id
// and schema version, decode back equal and encode again to the same bytes, and must be
// decoded the same at any address. Accepted events are folded through evolve() from the
// initial state, and every state reached must survive the state codec unchanged — the
// promise order_codec.hpp (and its siblings) make for "every state evolve() can reach
// from initial_state() over events decode() accepts", which the tail relies on when it
// stores what the log made of an aggregate.
//
// State: the input is a snapshot as the state store holds it. What decode_state()
// accepts must re-encode to bytes that decode equal and re-encode identically; only the
// empty input is the initial state (a stored initial state is refused), and the answer
// must not depend on the address.

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "eventstore/codec/event_codec.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace shopstream::fuzz {

// Decider: the context's decider (initial_state, evolve); the functions are its codec's.
template <class Decider, class Decode, class Encode, class DecodeState, class EncodeState>
int fuzz_history(std::span<const std::uint8_t> input, Decode decode, Encode encode, DecodeState decode_state,
                 EncodeState encode_state) {
    auto s = Decider::initial_state();
    event_records records(input);
    event_record r;
    while (records.next(r)) {
        const auto decoded = decode(r.type, r.schema_version, r.payload);
        const misaligned_copy elsewhere(r.payload);
        FUZZ_CHECK(same_verdict(decoded, decode(r.type, r.schema_version, elsewhere.bytes())));
        if (!decoded) continue;

        const eventstore::encoded_event again = encode(*decoded);
        FUZZ_CHECK(again.type == r.type);
        FUZZ_CHECK(again.schema_version == r.schema_version);
        const auto back = decode(again.type, again.schema_version, again.payload);
        FUZZ_CHECK(back.has_value());
        FUZZ_CHECK(*back == *decoded);
        FUZZ_CHECK(encode(*back).payload == again.payload);

        s = Decider::evolve(std::move(s), *decoded);
        const std::vector<std::uint8_t> stored = encode_state(s);
        FUZZ_CHECK(stored.empty() == (s == Decider::initial_state()));
        const auto restored = decode_state(stored);
        FUZZ_CHECK(restored.has_value());
        FUZZ_CHECK(*restored == s);
    }
    return 0;
}

template <class Decider, class DecodeState, class EncodeState>
int fuzz_snapshot(std::span<const std::uint8_t> input, DecodeState decode_state, EncodeState encode_state) {
    const auto decoded = decode_state(input);
    const misaligned_copy elsewhere(input);
    FUZZ_CHECK(same_verdict(decoded, decode_state(elsewhere.bytes())));
    if (!decoded) return 0;
    FUZZ_CHECK(input.empty() == (*decoded == Decider::initial_state()));

    const std::vector<std::uint8_t> again = encode_state(*decoded);
    FUZZ_CHECK(again.empty() == input.empty());
    const auto back = decode_state(again);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(*back == *decoded);
    FUZZ_CHECK(encode_state(*back) == again);
    return 0;
}

}  // namespace shopstream::fuzz
