#pragma once
// The fixed key and clock of the JWT fuzz target, and how its second mode signs what the
// fuzzer writes; make_seeds uses the same to write tokens that verify.

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <string>
#include <string_view>

namespace shopstream::fuzz::jwt {

inline constexpr std::string_view secret = "fuzz-secret-fuzz-secret-fuzz-secret!";  // 36 bytes
inline constexpr std::chrono::sys_seconds now{std::chrono::seconds(1'700'000'000)};

inline std::string base64url(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

// header.payload.signature of two JSON texts (any bytes), signed HS256 with `secret`: the
// fuzzer's way past the signature check to the header and claim rules behind it.
inline std::string signed_token(std::string_view header_json, std::string_view payload_json) {
    const std::string signing_input = base64url(header_json) + "." + base64url(payload_json);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &mac_size);
    return signing_input + "." +
           base64url(std::string_view(reinterpret_cast<const char*>(mac), mac_size));
}

}  // namespace shopstream::fuzz::jwt
