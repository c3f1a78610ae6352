// Fuzz target: payment event histories through the payment codec and decider (codec_fuzz.hpp).
#include "domain/payment/payment.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace codec = shopstream::eventstore::payment_codec;
    return shopstream::fuzz::fuzz_history<shopstream::domain::payment::decider>(
        {data, size}, codec::decode, codec::encode, codec::decode_state, codec::encode_state);
}
