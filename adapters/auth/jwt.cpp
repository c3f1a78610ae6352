// libjwt does the base64url and JSON (jansson) parsing of header and payload, and mints.
// What it does not do, and so what is done here: refuse every algorithm but HS256
// (libjwt 1.10 verifies HS384 and HS512 with the same secret, takes "hs256" for HS256,
// and ignores `crit`), refuse a payload that is not an object, check claim types
// (jwt_get_grant_int returns 0 for a string or fractional exp), and the
// exp/nbf/sub/roles rules. Claims are read with nlohmann from libjwt's re-serialised
// payload, so types are checked exactly.
//
// The HS256 signature is checked here too, with OpenSSL, and libjwt is never given the
// key on verify: libjwt 1.10 compares its base64url of the expected MAC with the
// token's using strcmp, whose running time tells an attacker how many leading
// characters of a forged signature are right. Measured against libjwt 1.10.2: its
// check accepts no wrong signature (trailing characters, padding, the standard
// alphabet and a changed unused bit of the last character are all refused); the
// variable time is the whole defect. libjwt has no constant-time option, so the check
// is written here.
#include "adapters/auth/jwt.hpp"

#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

namespace shopstream::adapters::auth {
namespace {

// jwt_add_grant_int takes a long; claims are 64-bit seconds.
static_assert(sizeof(long) == sizeof(std::int64_t));

constexpr std::size_t max_secret_bytes = 4096;  // jwt_decode takes the key length as int

struct jwt_deleter {
    void operator()(jwt_t* jwt) const noexcept { jwt_free(jwt); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

struct free_deleter {
    void operator()(char* p) const noexcept { std::free(p); }
};
using c_string = std::unique_ptr<char, free_deleter>;

std::unexpected<auth_error> refuse(auth_errc code, std::string_view description) {
    return std::unexpected<auth_error>(auth_error{code, description});
}

bool is_base64url(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool is_space_or_tab(char c) noexcept { return c == ' ' || c == '\t'; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    return std::ranges::equal(a, b, [](char x, char y) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

// Parse only: given no key, libjwt checks no signature and reports alg none whatever
// the header says; nothing from it is trusted until hs256_signature_matches agrees.
jwt_ptr parse(const std::string& token) {
    jwt_t* raw = nullptr;
    const int rc = jwt_decode(&raw, token.c_str(), nullptr, 0);
    jwt_ptr jwt(raw);
    if (rc != 0) return nullptr;
    return jwt;
}

// Whether `signature` is the base64url (unpadded) of HMAC-SHA256(secret, signing_input).
// The expected MAC is encoded and the two strings compared, rather than the token's
// segment decoded, so that only the one canonical spelling is accepted: a decoder maps
// the 4 spellings of the last character that differ in its unused low bits onto the
// same bytes. The lengths are public (43 characters for every HS256 token), so only
// the comparison of contents must take constant time.
bool hs256_signature_matches(std::string_view signing_input, std::string_view signature,
                             std::string_view secret) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
             mac, &mac_size) == nullptr) {
        return false;
    }
    // EVP_EncodeBlock writes standard, padded base64 and a NUL: 4 * ceil(n / 3) + 1.
    unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    const int encoded_size = EVP_EncodeBlock(encoded, mac, static_cast<int>(mac_size));
    std::size_t size = static_cast<std::size_t>(encoded_size);
    while (size > 0 && encoded[size - 1] == '=') --size;
    for (std::size_t i = 0; i < size; ++i) {
        if (encoded[i] == '+') encoded[i] = '-';
        if (encoded[i] == '/') encoded[i] = '_';
    }
    return signature.size() == size && CRYPTO_memcmp(signature.data(), encoded, size) == 0;
}

std::optional<nlohmann::json> json_of(c_string text) {
    if (!text) return std::nullopt;
    auto parsed = nlohmann::json::parse(text.get(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return std::nullopt;
    return parsed;
}

enum class claim_state : std::uint8_t { absent, present, invalid };

// An integer claim that fits in int64 (nlohmann keeps large positives as unsigned).
claim_state integer_claim(const nlohmann::json& payload, const char* name, std::int64_t& out) {
    const auto it = payload.find(name);
    if (it == payload.end()) return claim_state::absent;
    if (it->is_number_unsigned()) {
        const auto value = it->get<std::uint64_t>();
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return claim_state::invalid;
        }
        out = static_cast<std::int64_t>(value);
        return claim_state::present;
    }
    if (!it->is_number_integer()) return claim_state::invalid;
    out = it->get<std::int64_t>();
    return claim_state::present;
}

}  // namespace

std::string www_authenticate(const auth_error& refusal) {
    switch (refusal.code) {
        case auth_errc::missing_credentials:
        case auth_errc::unsupported_scheme:
            return "Bearer";
        case auth_errc::invalid_request:
            return "Bearer error=\"invalid_request\", error_description=\"" +
                   std::string(refusal.description) + "\"";
        default:
            return "Bearer error=\"invalid_token\", error_description=\"" +
                   std::string(refusal.description) + "\"";
    }
}

result<std::string_view, auth_error> parse_bearer(std::string_view value) {
    while (!value.empty() && is_space_or_tab(value.front())) value.remove_prefix(1);
    while (!value.empty() && is_space_or_tab(value.back())) value.remove_suffix(1);
    if (value.empty()) return refuse(auth_errc::missing_credentials, "no bearer token");

    const auto scheme_end = std::min(value.find_first_of(" \t"), value.size());
    if (!iequals(value.substr(0, scheme_end), "bearer")) {
        return refuse(auth_errc::unsupported_scheme, "the Authorization scheme must be Bearer");
    }
    auto token = value.substr(scheme_end);
    while (!token.empty() && is_space_or_tab(token.front())) token.remove_prefix(1);
    if (token.empty()) return refuse(auth_errc::invalid_request, "Bearer needs a token");

    // RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    std::size_t i = 0;
    while (i < token.size() && (is_base64url(token[i]) || token[i] == '.' || token[i] == '~' ||
                                token[i] == '+' || token[i] == '/')) {
        ++i;
    }
    const bool has_body = i > 0;
    while (i < token.size() && token[i] == '=') ++i;
    if (!has_body || i != token.size()) {
        return refuse(auth_errc::invalid_request, "Bearer takes exactly one token");
    }
    return token;
}

result<std::chrono::seconds, error> parse_ttl(std::string_view text) {
    const error usage{errc::invalid_ttl, "a ttl is a positive integer with a unit s, m, h or d (30s, 15m, 1h, 7d)"};
    if (text.size() < 2) return fail(usage);
    std::int64_t unit = 0;
    switch (text.back()) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return fail(usage);
    }
    const auto digits = text.substr(0, text.size() - 1);
    if (!std::ranges::all_of(digits, [](char c) { return c >= '0' && c <= '9'; })) {
        return fail(usage);
    }
    std::int64_t count = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    const auto max = jwt_authority::max_ttl.count();
    if (ec == std::errc::result_out_of_range || (ec == std::errc{} && count > max / unit)) {
        return fail(error{errc::invalid_ttl, "a ttl is at most 366d"});
    }
    if (ec != std::errc{} || end != digits.data() + digits.size()) return fail(usage);
    if (count == 0) return fail(error{errc::invalid_ttl, "a ttl must be positive"});
    return std::chrono::seconds(count * unit);
}

result<jwt_authority, error> jwt_authority::create(std::string secret, jwt_options options) {
    if (secret.size() < min_secret_bytes) {
        return fail(error{errc::invalid_secret, "the JWT secret must be at least " + std::to_string(min_secret_bytes) +
                                                    " bytes (it has " + std::to_string(secret.size()) + ")"});
    }
    if (secret.size() > max_secret_bytes) {
        return fail(error{errc::invalid_secret,
                          "the JWT secret must be at most " + std::to_string(max_secret_bytes) + " bytes"});
    }
    if (options.leeway < std::chrono::seconds(0) || options.leeway > std::chrono::hours(1)) {
        return fail(error{errc::invalid_leeway, "the JWT leeway must be between 0 and 3600 seconds"});
    }
    return jwt_authority(std::move(secret), options);
}

result<domain::actor, auth_error> jwt_authority::verify(std::string_view token_view,
                                                        std::chrono::sys_seconds now) const {
    constexpr auto malformed = auth_errc::malformed_token;
    if (token_view.size() > max_token_bytes) {
        return refuse(malformed, "the token is longer than 8192 bytes");
    }
    // Compact JWS: three base64url segments (no padding), header and payload non-empty.
    // Checked first so libjwt never sees NULs, padding or the standard alphabet.
    const auto first_dot = token_view.find('.');
    const auto second_dot =
        first_dot == std::string_view::npos ? first_dot : token_view.find('.', first_dot + 1);
    if (first_dot == 0 || second_dot == std::string_view::npos || second_dot == first_dot + 1 ||
        !std::ranges::all_of(token_view, [](char c) { return is_base64url(c) || c == '.'; }) ||
        token_view.find('.', second_dot + 1) != std::string_view::npos) {
        return refuse(malformed, "the token is not header.payload.signature in base64url");
    }
    const std::string token(token_view);

    // The header is judged before the signature, so a token in another algorithm is
    // told so rather than "bad signature".
    const auto unverified = parse(token);
    {
        // libjwt also fails here on an alg it does not know (PS256, "HS256 ", a number).
        if (!unverified) {
            return refuse(malformed,
                          "the token cannot be decoded: bad base64url or JSON, or an unknown alg");
        }
        const auto header = json_of(c_string(jwt_get_headers_json(unverified.get(), nullptr)));
        if (!header || !header->is_object()) {
            return refuse(malformed, "the token header is not a JSON object");
        }
        const auto alg = header->find("alg");
        if (alg == header->end() || !alg->is_string() ||
            alg->get_ref<const std::string&>() != "HS256") {
            return refuse(auth_errc::unsupported_algorithm, "only HS256 tokens are accepted");
        }
        if (header->contains("crit")) {
            return refuse(auth_errc::unsupported_algorithm,
                          "critical header parameters are not supported");
        }
    }
    if (second_dot + 1 == token.size())
        return refuse(auth_errc::bad_signature, "the token is not signed");

    const auto signing_input = token_view.substr(0, second_dot);
    if (!hs256_signature_matches(signing_input, token_view.substr(second_dot + 1), secret_)) {
        return refuse(auth_errc::bad_signature, "the signature does not verify");
    }
    const auto payload = json_of(c_string(jwt_get_grants_json(unverified.get(), nullptr)));
    if (!payload || !payload->is_object()) {
        return refuse(malformed, "the token payload is not a JSON object");
    }

    constexpr auto invalid = auth_errc::invalid_claims;
    std::int64_t exp = 0;
    switch (integer_claim(*payload, "exp", exp)) {
        case claim_state::absent:
            return refuse(invalid, "the exp claim is missing");
        case claim_state::invalid:
            return refuse(invalid, "the exp claim must be an integer");
        case claim_state::present:
            break;
    }
    std::int64_t nbf = 0;
    const auto nbf_state = integer_claim(*payload, "nbf", nbf);
    if (nbf_state == claim_state::invalid)
        return refuse(invalid, "the nbf claim must be an integer");
    std::int64_t iat = 0;
    if (integer_claim(*payload, "iat", iat) == claim_state::invalid) {
        return refuse(invalid, "the iat claim must be an integer");
    }

    // Rearranged so that no claim value takes part in arithmetic (no overflow).
    const std::int64_t now_s = now.time_since_epoch().count();
    const std::int64_t leeway = options_.leeway.count();
    if (exp <= now_s - leeway) return refuse(auth_errc::expired, "the token has expired");
    if (nbf_state == claim_state::present && nbf > now_s + leeway) {
        return refuse(auth_errc::not_yet_valid, "the token is not valid yet");
    }

    const auto sub = payload->find("sub");
    if (sub == payload->end()) return refuse(invalid, "the sub claim is missing");
    if (!sub->is_string() || !domain::is_valid_id(sub->get_ref<const std::string&>())) {
        return refuse(invalid, "the sub claim is not a valid id");
    }

    const auto roles = payload->find("roles");
    if (roles == payload->end()) return refuse(invalid, "the roles claim is missing");
    if (!roles->is_array() || roles->empty()) {
        return refuse(invalid, "the roles claim must be a non-empty array");
    }
    auto role = domain::role::customer;
    for (const auto& entry : *roles) {
        if (!entry.is_string()) return refuse(invalid, "the roles claim holds a non-string");
        const auto& name = entry.get_ref<const std::string&>();
        if (name == "admin") {
            role = domain::role::admin;
        } else if (name != "customer") {
            return refuse(invalid, "the roles claim holds a role other than customer or admin");
        }
    }
    return domain::actor{sub->get<std::string>(), role};
}

result<std::string, error> jwt_authority::mint(std::string_view sub, domain::role role, std::chrono::seconds ttl,
                                               std::chrono::sys_seconds now) const {
    if (!domain::is_valid_id(sub)) {
        return fail(error{errc::invalid_subject, "the subject must be 1-128 characters from [A-Za-z0-9._:-]"});
    }
    const char* roles = nullptr;
    switch (role) {
        case domain::role::customer:
            roles = R"({"roles":["customer"]})";
            break;
        case domain::role::admin:
            roles = R"({"roles":["admin"]})";
            break;
        default:
            return fail(error{errc::invalid_role, "a token's role is customer or admin"});
    }
    if (ttl <= std::chrono::seconds(0) || ttl > max_ttl) {
        return fail(error{errc::invalid_ttl, "the ttl must be positive and at most 366 days"});
    }
    const std::int64_t iat = now.time_since_epoch().count();
    if (iat < 0 || iat > std::numeric_limits<std::int64_t>::max() - ttl.count()) {
        return fail(error{errc::clock_out_of_range, "the current time is out of range"});
    }

    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) return fail(error{errc::signing_failed, "cannot allocate a JWT"});
    const jwt_ptr jwt(raw);
    const std::string subject(sub);
    const auto* key = reinterpret_cast<const unsigned char*>(secret_.data());
    if (jwt_add_grant(jwt.get(), "sub", subject.c_str()) != 0 ||
        jwt_add_grant_int(jwt.get(), "iat", iat) != 0 ||
        jwt_add_grant_int(jwt.get(), "nbf", iat) != 0 ||
        jwt_add_grant_int(jwt.get(), "exp", iat + ttl.count()) != 0 ||
        jwt_add_grants_json(jwt.get(), roles) != 0 ||
        jwt_set_alg(jwt.get(), JWT_ALG_HS256, key, static_cast<int>(secret_.size())) != 0) {
        return fail(error{errc::signing_failed, "cannot build the JWT"});
    }
    const c_string encoded(jwt_encode_str(jwt.get()));
    if (!encoded) return fail(error{errc::signing_failed, "cannot encode the JWT"});
    return std::string(encoded.get());
}

}  // namespace shopstream::adapters::auth
