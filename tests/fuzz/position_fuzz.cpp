// Fuzz target: the position token ("partition:offset", or "<context>:partition:offset")
// of X-Position, X-Min-Position and ?minPosition= (eventstore/position.hpp). Invariant:
// parse_position and parse_position_token accept exactly what to_string and to_token
// print — a token that parses prints back to the same text — so one position has one
// spelling, and what they yield prints and parses back to itself.
#include <cstdint>
#include <span>

#include "eventstore/position.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace es = shopstream::eventstore;
    const auto text = shopstream::fuzz::as_text({data, size});
    const auto t = es::parse_position_token(text);
    const auto p = es::parse_position(text);
    if (p) {
        FUZZ_CHECK(p->partition.value() >= 0 && p->offset.value() >= 0);
        FUZZ_CHECK(es::to_string(*p) == text);
        FUZZ_CHECK(t && !t->ctx && t->at == *p);  // a bare token is a token
    }
    if (!t) return 0;
    FUZZ_CHECK(t->at.partition.value() >= 0 && t->at.offset.value() >= 0);
    FUZZ_CHECK((t->ctx ? es::to_token(*t->ctx, t->at) : es::to_string(t->at)) == text);
    return 0;
}
