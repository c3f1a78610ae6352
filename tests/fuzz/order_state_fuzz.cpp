// Fuzz target: order state snapshots through the order state codec (codec_fuzz.hpp).
#include "domain/order/order.hpp"
#include "eventstore/codec/order_codec.hpp"
#include "tests/fuzz/codec_fuzz.hpp"

namespace {
struct codec {
    static constexpr auto decode_state = &shopstream::eventstore::order_codec::decode_state;
    static constexpr auto encode_state = &shopstream::eventstore::order_codec::encode_state;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return shopstream::fuzz::fuzz_snapshot<codec, shopstream::domain::order::decider>({data, size});
}
