// Fuzz target: review event histories through the review codec and decider (codec_fuzz.hpp).
#include "domain/review/review.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

namespace {
struct codec {
    static constexpr auto decode = &shopstream::eventstore::review_codec::decode;
    static constexpr auto encode = &shopstream::eventstore::review_codec::encode;
    static constexpr auto decode_state = &shopstream::eventstore::review_codec::decode_state;
    static constexpr auto encode_state = &shopstream::eventstore::review_codec::encode_state;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return shopstream::fuzz::fuzz_history<codec, shopstream::domain::review::decider>({data, size});
}
