// Fuzz target: the opaque `after` cursors of the list queries - the base64url spelling
// every cursor uses (queries/base64url.hpp) and the order list's HMAC-bound cursor
// (queries/order_cursor.hpp). The input is the text a client sends as ?after=.
// Invariants: from_base64url accepts exactly what base64url prints (one spelling per byte
// string); decode_cursor never accepts a token encode_cursor would not print for that
// customer and key - so an accepted token re-encodes to itself - and a cursor made from
// the input's own bytes decodes back to its position, for its customer only.
#include <cstdint>
#include <span>
#include <string>

#include "queries/base64url.hpp"
#include "queries/order_cursor.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace q = shopstream::queries;
    const auto text = shopstream::fuzz::as_text({data, size});
    constexpr std::string_view key = "fuzz-cursor-key-0123456789abcdef";
    constexpr std::string_view customer = "c-fuzz";

    if (const auto bytes = q::from_base64url(text)) FUZZ_CHECK(q::base64url(*bytes) == text);
    FUZZ_CHECK(q::from_base64url(q::base64url(text)) == std::string(text));

    if (const auto at = q::decode_cursor(key, customer, text)) {
        FUZZ_CHECK(q::encode_cursor(key, customer, *at) == text);
    }

    // The input's bytes as a position: its first 8 bytes the time, the rest the order id.
    q::list_position mine;
    for (std::size_t i = 0; i < 8 && i < text.size(); ++i) {
        mine.placed_at_ms = static_cast<std::int64_t>((static_cast<std::uint64_t>(mine.placed_at_ms) << 8) |
                                                      static_cast<unsigned char>(text[i]));
    }
    if (text.size() > 8) mine.order_id = std::string(text.substr(8));
    const std::string token = q::encode_cursor(key, customer, mine);
    const auto back = q::decode_cursor(key, customer, token);
    if (back) FUZZ_CHECK(*back == mine);
    FUZZ_CHECK(!q::decode_cursor(key, "c-other", token));
    return 0;
}
