#pragma once
// The `after` cursor of a customer's order list: an opaque token for a position in the
// list's newest-first order (placed_at, order id), bound to the customer by an
// HMAC-SHA256 (OpenSSL) keyed by the server's secret. The token is base64url, no padding:
//   8 bytes placed_at (ms, big-endian) | the order id | 32 bytes HMAC
// where the MAC covers a domain tag, the customer (length-prefixed) and the position. An
// edited token, or one issued for another customer's list, fails the MAC; a token that is
// not base64url of that shape is refused as well (errc::invalid_argument, "after: ...").
//
// Pure functions over values; safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "queries/errc.hpp"

namespace shopstream::queries {

struct list_position {
    std::int64_t placed_at_ms = 0;
    std::string order_id;

    friend bool operator==(const list_position&, const list_position&) = default;
};

[[nodiscard]] std::string encode_cursor(std::string_view key, std::string_view customer, const list_position& at);

[[nodiscard]] result<list_position, error> decode_cursor(std::string_view key, std::string_view customer,
                                                         std::string_view token);

}  // namespace shopstream::queries
