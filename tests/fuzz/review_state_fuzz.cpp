// Fuzz target: review state snapshots through the review state codec (codec_fuzz.hpp).
#include "domain/review/review.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

namespace {
struct codec {
    static constexpr auto decode_state = &shopstream::eventstore::review_codec::decode_state;
    static constexpr auto encode_state = &shopstream::eventstore::review_codec::encode_state;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return shopstream::fuzz::fuzz_snapshot<codec, shopstream::domain::review::decider>({data, size});
}
