// Fuzz target: the position token ("partition:offset") of X-Position, X-Min-Position and
// ?minPosition= (eventstore/position.hpp). Invariant: parse_position accepts exactly
// what to_string prints — a token that parses prints back to the same text — so one
// position has one spelling, and what it yields prints and parses back to itself.
#include <cstdint>
#include <span>

#include "eventstore/position.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace es = shopstream::eventstore;
    const auto text = shopstream::fuzz::as_text({data, size});
    const auto p = es::parse_position(text);
    if (!p) return 0;
    FUZZ_CHECK(p->partition.value() >= 0 && p->offset.value() >= 0);
    FUZZ_CHECK(es::to_string(*p) == text);
    return 0;
}
