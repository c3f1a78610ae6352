#include "queries/order_cursor.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <optional>

#include "queries/base64url.hpp"

namespace shopstream::queries {
namespace {

constexpr std::size_t mac_size = 32;
constexpr std::string_view domain_tag = "shopstream.orders.list.v1";
// 8 bytes of time, 128 at most of order id (domain::is_valid_id), the MAC.
constexpr std::size_t max_token_bytes = 8 + 128 + mac_size;

using mac = std::array<unsigned char, mac_size>;

mac mac_of(std::string_view key, std::string_view customer, std::string_view payload) {
    std::string input(domain_tag);
    const auto length = static_cast<std::uint32_t>(customer.size());
    for (int shift = 24; shift >= 0; shift -= 8) input += static_cast<char>((length >> shift) & 0xFF);
    input += customer;
    input += payload;
    mac out{};
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), out.data(), &size);
    return out;
}


error bad_cursor(std::string why) { return error{errc::invalid_argument, "after: " + std::move(why)}; }

}  // namespace

std::string encode_cursor(std::string_view key, std::string_view customer, const list_position& at) {
    std::string payload;
    const auto time = static_cast<std::uint64_t>(at.placed_at_ms);
    for (int shift = 56; shift >= 0; shift -= 8) payload += static_cast<char>((time >> shift) & 0xFF);
    payload += at.order_id;
    const mac m = mac_of(key, customer, payload);
    payload.append(reinterpret_cast<const char*>(m.data()), m.size());
    return base64url(payload);
}

result<list_position, error> decode_cursor(std::string_view key, std::string_view customer, std::string_view token) {
    if (token.empty() || token.size() > (max_token_bytes * 4 + 2) / 3) {
        return fail(bad_cursor("not a cursor this server issued (empty or too long)"));
    }
    const auto bytes = from_base64url(token);
    if (!bytes || bytes->size() < 8 + 1 + mac_size) return fail(bad_cursor("not a cursor this server issued"));
    const std::string_view payload = std::string_view(*bytes).substr(0, bytes->size() - mac_size);
    const mac expected = mac_of(key, customer, payload);
    if (CRYPTO_memcmp(expected.data(), bytes->data() + payload.size(), mac_size) != 0) {
        return fail(bad_cursor("not a cursor of this customer's list (edited, or issued for another list)"));
    }
    std::uint64_t time = 0;
    for (std::size_t i = 0; i < 8; ++i) time = (time << 8) | static_cast<unsigned char>(payload[i]);
    return list_position{static_cast<std::int64_t>(time), std::string(payload.substr(8))};
}

}  // namespace shopstream::queries
