// Fuzz target: payment state snapshots through the payment state codec (codec_fuzz.hpp).
#include "domain/payment/payment.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

namespace {
struct codec {
    static constexpr auto decode_state = &shopstream::eventstore::payment_codec::decode_state;
    static constexpr auto encode_state = &shopstream::eventstore::payment_codec::encode_state;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return shopstream::fuzz::fuzz_snapshot<codec, shopstream::domain::payment::decider>({data, size});
}
