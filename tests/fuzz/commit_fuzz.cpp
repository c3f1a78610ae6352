// Fuzz target: commit records as they come off the log (eventstore/commit.hpp). What
// decode_commit accepts keeps the record's rules (ids and events present, no version
// overflow), re-encodes to bytes that decode equal and encode again identically, and is
// decoded the same at any address; what it refuses is refused the same way everywhere.
#include <cstdint>
#include <span>

#include "eventstore/commit.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace es = shopstream::eventstore;
    using shopstream::fuzz::same_verdict;
    const std::span<const std::uint8_t> input(data, size);
    const auto decoded = es::decode_commit(input);
    const shopstream::fuzz::misaligned_copy elsewhere(input);
    FUZZ_CHECK(same_verdict(decoded, es::decode_commit(elsewhere.bytes())));
    if (!decoded) return 0;

    const es::commit& c = *decoded;
    FUZZ_CHECK(!c.aggregate_id.empty() && !c.command_id.empty() && !c.events.empty());
    FUZZ_CHECK(c.resulting_version() > c.expected_version);
    const auto again = es::encode_commit(c);
    const auto back = es::decode_commit(again);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(*back == c);
    FUZZ_CHECK(es::encode_commit(*back) == again);
    return 0;
}
