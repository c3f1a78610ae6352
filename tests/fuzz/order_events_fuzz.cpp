// Fuzz target: order event histories through the order codec and decider (codec_fuzz.hpp).
#include "domain/order/order.hpp"
#include "eventstore/codec/order_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace codec = shopstream::eventstore::order_codec;
    return shopstream::fuzz::fuzz_history<shopstream::domain::order::decider>(
        {data, size}, codec::decode, codec::encode, codec::decode_state, codec::encode_state);
}
