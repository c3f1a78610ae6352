// Fuzz target: review event histories through the review codec and decider (codec_fuzz.hpp).
#include "domain/review/review.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace codec = shopstream::eventstore::review_codec;
    return shopstream::fuzz::fuzz_history<shopstream::domain::review::decider>(
        {data, size}, codec::decode, codec::encode, codec::decode_state, codec::encode_state);
}
