// Fuzz target: review state snapshots through the review state codec (codec_fuzz.hpp).
#include "domain/review/review.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace codec = shopstream::eventstore::review_codec;
    return shopstream::fuzz::fuzz_snapshot<shopstream::domain::review::decider>(
        {data, size}, codec::decode_state, codec::encode_state);
}
