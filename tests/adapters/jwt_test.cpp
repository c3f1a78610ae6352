// Bearer-token authentication: round trips, every refusal class (tokens assembled by
// hand, or signed with libjwt where a valid signature is the point), the leeway edges,
// Authorization header parsing and the ttl syntax.
#include "adapters/auth/jwt.hpp"

#include <gtest/gtest.h>
#include <jwt.h>

#include <atomic>
#include <cstdlib>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace shopstream::adapters::auth {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string secret = "0123456789abcdef0123456789abcdef";  // exactly 32 bytes
const std::string other_secret = "fedcba9876543210fedcba9876543210";
constexpr std::int64_t t0 = 1'700'000'000;
const std::chrono::sys_seconds now{std::chrono::seconds(t0)};

jwt_authority authority(std::chrono::seconds leeway = 30s, const std::string& key = secret) {
    auto created = jwt_authority::create(key, jwt_options{leeway});
    if (!created) throw std::runtime_error(created.error().message);
    return std::move(*created);
}

std::string b64url(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                           static_cast<unsigned char>(bytes[i + 2]);
        out += {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63],
                alphabet[v & 63]};
    }
    if (bytes.size() - i == 1) {
        const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
        out += {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63]};
    } else if (bytes.size() - i == 2) {
        const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8);
        out += {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63]};
    }
    return out;
}

std::string b64url_decode(std::string_view text) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        int v = 0;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else
            throw std::runtime_error("not base64url");
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

std::vector<std::string> segments(const std::string& token) {
    const auto a = token.find('.');
    const auto b = token.find('.', a + 1);
    return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

// A token whose header and payload are exactly these bytes, with this signature segment.
std::string assemble(std::string_view header, std::string_view payload,
                     std::string_view signature) {
    return b64url(header) + "." + b64url(payload) + "." + std::string(signature);
}

json valid_claims() {
    return {{"sub", "customer-1"},
            {"roles", {"customer"}},
            {"iat", t0},
            {"nbf", t0},
            {"exp", t0 + 3600}};
}

// Signed by libjwt itself, so the signature is valid for `alg` and `key` whatever the
// claims: the refusal under test is never "bad signature" by accident.
std::string sign(const json& claims, jwt_alg_t alg = JWT_ALG_HS256, const std::string& key = secret,
                 const char* extra_headers = nullptr) {
    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new");
    std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt(raw, &jwt_free);
    if (jwt_add_grants_json(jwt.get(), claims.dump().c_str()) != 0)
        throw std::runtime_error("grants");
    if (extra_headers && jwt_add_headers_json(jwt.get(), extra_headers) != 0) {
        throw std::runtime_error("headers");
    }
    if (jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                    static_cast<int>(key.size())) != 0) {
        throw std::runtime_error("alg");
    }
    std::unique_ptr<char, decltype(&std::free)> token(jwt_encode_str(jwt.get()), &std::free);
    if (!token) throw std::runtime_error("encode");
    return token.get();
}

json with(json claims, const std::string& name, json value) {
    claims[name] = std::move(value);
    return claims;
}

json without(json claims, const std::string& name) {
    claims.erase(name);
    return claims;
}

// RFC 6750 error_description: %x20-21 / %x23-5B / %x5D-7E.
bool is_safe_description(std::string_view text) {
    if (text.empty()) return false;
    for (unsigned char c : text) {
        if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return false;
    }
    return true;
}

::testing::AssertionResult refused(const result<domain::actor, auth_error>& verdict,
                                   auth_errc code) {
    if (verdict) return ::testing::AssertionFailure() << "accepted as " << verdict->id;
    if (verdict.error().code != code) {
        return ::testing::AssertionFailure()
               << "refused with code " << static_cast<int>(verdict.error().code) << " ("
               << verdict.error().description << "), expected " << static_cast<int>(code);
    }
    if (!is_safe_description(verdict.error().description)) {
        return ::testing::AssertionFailure()
               << "unsafe description: " << verdict.error().description;
    }
    return ::testing::AssertionSuccess();
}

// ---- construction and minting ----------------------------------------------------

TEST(jwt_authority, refuses_a_secret_shorter_than_32_bytes) {
    auto short_one = jwt_authority::create(secret.substr(0, 31));
    ASSERT_FALSE(short_one.has_value());
    EXPECT_EQ(short_one.error().code, errc::invalid_secret);
    EXPECT_NE(short_one.error().message.find("at least 32 bytes"), std::string::npos) << short_one.error().message;
    EXPECT_FALSE(jwt_authority::create("").has_value());
    EXPECT_TRUE(jwt_authority::create(secret).has_value());
}

TEST(jwt_authority, refuses_a_leeway_out_of_range) {
    EXPECT_FALSE(jwt_authority::create(secret, jwt_options{-1s}).has_value());
    EXPECT_FALSE(jwt_authority::create(secret, jwt_options{3601s}).has_value());
    EXPECT_TRUE(jwt_authority::create(secret, jwt_options{0s}).has_value());
}

TEST(jwt_authority, a_minted_token_verifies_back_to_the_same_actor) {
    const auto a = authority();
    for (const auto& [sub, role] : {std::pair{std::string("customer-1"), domain::role::customer},
                                    std::pair{std::string("ops:admin.2"), domain::role::admin}}) {
        auto token = a.mint(sub, role, 1h, now);
        ASSERT_TRUE(token.has_value()) << token.error();
        auto actor = a.verify(*token, now);
        ASSERT_TRUE(actor.has_value()) << actor.error().description;
        EXPECT_EQ(*actor, (domain::actor{sub, role}));
    }
}

TEST(jwt_authority, a_minted_token_carries_hs256_and_the_standard_claims) {
    auto token = authority().mint("customer-1", domain::role::admin, 15min, now);
    ASSERT_TRUE(token.has_value()) << token.error();
    const auto parts = segments(*token);
    const auto header = json::parse(b64url_decode(parts[0]));
    EXPECT_EQ(header.at("alg"), "HS256");
    const auto claims = json::parse(b64url_decode(parts[1]));
    EXPECT_EQ(claims.at("sub"), "customer-1");
    EXPECT_EQ(claims.at("roles"), json::array({"admin"}));
    EXPECT_EQ(claims.at("iat"), t0);
    EXPECT_EQ(claims.at("nbf"), t0);
    EXPECT_EQ(claims.at("exp"), t0 + 900);
    EXPECT_FALSE(parts[2].empty());
}

TEST(jwt_authority, a_minted_token_expires_after_its_ttl_and_leeway) {
    const auto a = authority(30s);
    auto token = a.mint("customer-1", domain::role::customer, 60s, now);
    ASSERT_TRUE(token.has_value());
    EXPECT_TRUE(a.verify(*token, now + 89s).has_value());
    EXPECT_TRUE(refused(a.verify(*token, now + 90s), auth_errc::expired));
}

TEST(jwt_authority, mint_refuses_bad_input) {
    const auto a = authority();
    EXPECT_FALSE(a.mint("", domain::role::customer, 1h, now).has_value());
    EXPECT_FALSE(a.mint("has space", domain::role::customer, 1h, now).has_value());
    EXPECT_FALSE(a.mint("saga", domain::role::system, 1h, now).has_value());
    EXPECT_FALSE(a.mint("c1", domain::role::customer, 0s, now).has_value());
    EXPECT_FALSE(a.mint("c1", domain::role::customer, -1s, now).has_value());
    EXPECT_FALSE(
        a.mint("c1", domain::role::customer, jwt_authority::max_ttl + 1s, now).has_value());
    EXPECT_TRUE(a.mint("c1", domain::role::customer, jwt_authority::max_ttl, now).has_value());
}

// ---- algorithms ---------------------------------------------------------------------

TEST(jwt_refuses, alg_none) {
    const auto a = authority();
    const auto payload = valid_claims().dump();
    const auto real_signature = segments(sign(valid_claims()))[2];
    for (const std::string header : {R"({"alg":"none"})", R"({"alg":"none","typ":"JWT"})",
                                     R"({"alg":"None"})", R"({"alg":"NONE"})"}) {
        EXPECT_TRUE(
            refused(a.verify(assemble(header, payload, ""), now), auth_errc::unsupported_algorithm))
            << header;
        EXPECT_TRUE(refused(a.verify(assemble(header, payload, real_signature), now),
                            auth_errc::unsupported_algorithm))
            << header;
    }
}

// The reason for the explicit header check: libjwt 1.10 on its own accepts these.
TEST(jwt_refuses, other_hmac_algorithms_with_the_same_secret_that_libjwt_accepts) {
    for (const auto alg : {JWT_ALG_HS384, JWT_ALG_HS512}) {
        const auto token = sign(valid_claims(), alg);
        jwt_t* raw = nullptr;
        ASSERT_EQ(
            jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                       static_cast<int>(secret.size())),
            0)
            << "libjwt no longer accepts " << jwt_alg_str(alg) << "; the premise changed";
        jwt_free(raw);
        EXPECT_TRUE(refused(authority().verify(token, now), auth_errc::unsupported_algorithm))
            << jwt_alg_str(alg);
    }
}

TEST(jwt_refuses, asymmetric_unknown_and_misspelt_algorithms) {
    const auto a = authority();
    const auto payload = valid_claims().dump();
    const auto signature = segments(sign(valid_claims()))[2];  // a real HS256 signature
    // Algorithms libjwt knows get past its parse and are refused by name.
    for (const std::string header :
         {R"({"alg":"RS256"})", R"({"alg":"RS512"})", R"({"alg":"ES256"})", R"({"alg":"hs256"})",
          R"({"alg":"Hs256","typ":"JWT"})"}) {
        EXPECT_TRUE(refused(a.verify(assemble(header, payload, signature), now),
                            auth_errc::unsupported_algorithm))
            << header;
    }
    // libjwt 1.10 cannot decode a header whose alg it does not know: malformed.
    for (const std::string header : {R"({"alg":"PS256"})", R"({"alg":"HS256 "})", R"({"alg":256})",
                                     R"({"alg":null})", R"({"typ":"JWT"})", R"(["HS256"])"}) {
        EXPECT_TRUE(refused(a.verify(assemble(header, payload, signature), now),
                            auth_errc::malformed_token))
            << header;
    }
}

TEST(jwt_refuses, critical_header_parameters) {
    const auto token = sign(valid_claims(), JWT_ALG_HS256, secret, R"({"crit":["exp"]})");
    EXPECT_TRUE(refused(authority().verify(token, now), auth_errc::unsupported_algorithm));
}

// ---- signatures -----------------------------------------------------------------------

TEST(jwt_refuses, a_tampered_payload_under_the_old_signature) {
    const auto a = authority();
    auto token = a.mint("customer-1", domain::role::customer, 1h, now);
    ASSERT_TRUE(token.has_value());
    ASSERT_TRUE(a.verify(*token, now).has_value());
    auto parts = segments(*token);
    auto claims = json::parse(b64url_decode(parts[1]));
    claims["roles"] = {"admin"};
    EXPECT_TRUE(refused(a.verify(parts[0] + "." + b64url(claims.dump()) + "." + parts[2], now),
                        auth_errc::bad_signature));
    claims = json::parse(b64url_decode(parts[1]));
    claims["sub"] = "customer-2";
    EXPECT_TRUE(refused(a.verify(parts[0] + "." + b64url(claims.dump()) + "." + parts[2], now),
                        auth_errc::bad_signature));
}

TEST(jwt_refuses, a_token_signed_with_another_secret) {
    auto token = authority(30s, other_secret).mint("customer-1", domain::role::admin, 1h, now);
    ASSERT_TRUE(token.has_value());
    EXPECT_TRUE(refused(authority().verify(*token, now), auth_errc::bad_signature));
}

TEST(jwt_refuses, a_damaged_missing_or_truncated_signature) {
    const auto a = authority();
    auto token = a.mint("customer-1", domain::role::customer, 1h, now);
    ASSERT_TRUE(token.has_value());
    auto parts = segments(*token);
    std::string flipped = parts[2];
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    EXPECT_TRUE(refused(a.verify(parts[0] + "." + parts[1] + "." + flipped, now),
                        auth_errc::bad_signature));
    EXPECT_TRUE(refused(a.verify(parts[0] + "." + parts[1] + ".", now), auth_errc::bad_signature));
    EXPECT_TRUE(refused(a.verify(parts[0] + "." + parts[1] + "." + parts[2].substr(0, 20), now),
                        auth_errc::bad_signature));
    EXPECT_TRUE(refused(a.verify(parts[0] + "." + parts[1] + "." + parts[2] + "A", now),
                        auth_errc::bad_signature));
}

// The signature segment with its last 6-bit character replaced by `change(value)`.
std::string with_last_character(std::string signature, unsigned (*change)(unsigned)) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const auto value = static_cast<unsigned>(alphabet.find(signature.back()));
    signature.back() = alphabet[change(value) & 63U];
    return signature;
}

TEST(jwt_refuses, every_signature_but_the_canonical_hs256_mac) {
    const auto a = authority();
    auto token = a.mint("customer-1", domain::role::customer, 1h, now);
    ASSERT_TRUE(token.has_value());
    const auto p = segments(*token);
    ASSERT_EQ(p[2].size(), 43U) << "HS256 signs 32 bytes: 43 unpadded base64url characters";
    ASSERT_TRUE(a.verify(*token, now).has_value());
    const auto with_signature = [&](const std::string& signature) {
        return p[0] + "." + p[1] + "." + signature;
    };

    const auto other_token =
        authority(30s, other_secret).mint("customer-1", domain::role::customer, 1h, now);
    ASSERT_TRUE(other_token.has_value());
    const auto other = segments(*other_token);
    for (const std::string& signature : {
             std::string(43, 'A'),  // right length, wrong bytes
             std::string(43, '_'),
             other[2],  // another secret's MAC
             p[2].substr(0, 42),  // truncated by one
             p[2].substr(1),
             p[2] + "AAAA",  // trailing garbage
             p[2] + p[2],
             with_last_character(p[2], [](unsigned v) { return v ^ 4U; }),  // a data bit
             // The last character's two low bits are unused: a decoder that ignored them
             // would take these for the real MAC; only the canonical spelling is accepted.
             with_last_character(p[2], [](unsigned v) { return v ^ 1U; }),
             with_last_character(p[2], [](unsigned v) { return v ^ 2U; }),
             with_last_character(p[2], [](unsigned v) { return v ^ 3U; }),
         }) {
        EXPECT_TRUE(refused(a.verify(with_signature(signature), now), auth_errc::bad_signature))
            << signature;
    }
    // Not base64url at all, or padded: refused before any signature check, as before.
    for (const std::string& signature :
         {p[2] + "=", p[2].substr(0, 42) + "+", "/" + p[2].substr(1), p[2].substr(0, 42) + "*",
          p[2].substr(0, 20) + "%" + p[2].substr(21)}) {
        EXPECT_TRUE(refused(a.verify(with_signature(signature), now), auth_errc::malformed_token))
            << signature;
    }
}

// verify() hands libjwt the token without the key, so libjwt checks no signature at all
// and every bad_signature above is this module's constant-time check refusing. Should a
// libjwt upgrade start verifying keyless decodes, this says the premise moved.
TEST(jwt_signature, libjwt_without_a_key_checks_no_signature) {
    auto token = authority().mint("customer-1", domain::role::customer, 1h, now);
    ASSERT_TRUE(token.has_value());
    const auto p = segments(*token);
    const std::string forged = p[0] + "." + p[1] + "." + std::string(43, 'A');
    jwt_t* raw = nullptr;
    EXPECT_EQ(jwt_decode(&raw, forged.c_str(), nullptr, 0), 0);
    jwt_free(raw);
    raw = nullptr;
    const auto* key = reinterpret_cast<const unsigned char*>(secret.data());
    EXPECT_NE(jwt_decode(&raw, forged.c_str(), key, static_cast<int>(secret.size())), 0);
    jwt_free(raw);
    EXPECT_TRUE(refused(authority().verify(forged, now), auth_errc::bad_signature));
}

// ---- malformed tokens -------------------------------------------------------------------

TEST(jwt_refuses, malformed_tokens) {
    const auto a = authority();
    auto token = a.mint("customer-1", domain::role::customer, 1h, now);
    ASSERT_TRUE(token.has_value());
    const auto p = segments(*token);
    const std::vector<std::string> bad = {
        "",
        "abc",
        p[0] + "." + p[1],
        p[0] + "." + p[1] + "." + p[2] + ".x",
        "." + p[1] + "." + p[2],
        p[0] + ".." + p[2],
        *token + "=",                          // padding
        p[0] + "." + p[1] + "+" + "." + p[2],  // the standard alphabet
        *token + " ",
        " " + *token,
        std::string(p[0]) + "." + p[1] + std::string(1, '\0') + "." + p[2],
        b64url("not json") + "." + p[1] + "." + p[2],
        p[0] + "." + b64url("{\"sub\":") + "." + p[2],
        p[0] + "." + b64url(R"({"sub":"a"} trailing)") + "." + p[2],
        p[0] + "." + std::string(jwt_authority::max_token_bytes, 'A') + "." + p[2],
    };
    for (const auto& t : bad) {
        EXPECT_TRUE(refused(a.verify(t, now), auth_errc::malformed_token)) << "'" << t << "'";
    }
}

// ---- time -------------------------------------------------------------------------------

TEST(jwt_refuses, expired_tokens_at_the_leeway_edge) {
    const auto a = authority(30s);
    EXPECT_TRUE(a.verify(sign(with(valid_claims(), "exp", t0 - 29)), now).has_value());
    EXPECT_TRUE(
        refused(a.verify(sign(with(valid_claims(), "exp", t0 - 30)), now), auth_errc::expired));
    EXPECT_TRUE(refused(a.verify(sign(with(valid_claims(), "exp", 0)), now), auth_errc::expired));
    EXPECT_TRUE(refused(a.verify(sign(with(valid_claims(), "exp", -5)), now), auth_errc::expired));

    const auto strict = authority(0s);
    EXPECT_TRUE(strict.verify(sign(with(valid_claims(), "exp", t0 + 1)), now).has_value());
    EXPECT_TRUE(
        refused(strict.verify(sign(with(valid_claims(), "exp", t0)), now), auth_errc::expired));
}

TEST(jwt_refuses, not_yet_valid_tokens_at_the_leeway_edge) {
    const auto a = authority(30s);
    EXPECT_TRUE(a.verify(sign(with(valid_claims(), "nbf", t0 + 30)), now).has_value());
    EXPECT_TRUE(refused(a.verify(sign(with(valid_claims(), "nbf", t0 + 31)), now),
                        auth_errc::not_yet_valid));
    EXPECT_TRUE(a.verify(sign(without(valid_claims(), "nbf")), now).has_value())
        << "nbf is optional";

    const auto strict = authority(0s);
    EXPECT_TRUE(strict.verify(sign(with(valid_claims(), "nbf", t0)), now).has_value());
    EXPECT_TRUE(refused(strict.verify(sign(with(valid_claims(), "nbf", t0 + 1)), now),
                        auth_errc::not_yet_valid));
}

TEST(jwt_refuses, extreme_times_without_overflow) {
    const auto a = authority(30s);
    EXPECT_TRUE(
        a.verify(sign(with(valid_claims(), "exp", std::numeric_limits<std::int64_t>::max())), now)
            .has_value());
    EXPECT_TRUE(refused(
        a.verify(sign(with(valid_claims(), "exp", std::numeric_limits<std::int64_t>::min())), now),
        auth_errc::expired));
    EXPECT_TRUE(refused(
        a.verify(sign(with(valid_claims(), "nbf", std::numeric_limits<std::int64_t>::max())), now),
        auth_errc::not_yet_valid));
}

// ---- claims -----------------------------------------------------------------------------

TEST(jwt_refuses, missing_or_garbage_time_claims) {
    const auto a = authority();
    for (const auto& claims : {
             without(valid_claims(), "exp"),
             with(valid_claims(), "exp", "1700003600"),  // libjwt reads this as 0
             with(valid_claims(), "exp", 1.7e9 + 3600.5),
             with(valid_claims(), "exp", nullptr),
             with(valid_claims(), "exp", true),
             with(valid_claims(), "nbf", "soon"),
             with(valid_claims(), "nbf", json::array()),
             with(valid_claims(), "iat", "then"),
             with(valid_claims(), "iat", 1.5),
         }) {
        EXPECT_TRUE(refused(a.verify(sign(claims), now), auth_errc::invalid_claims))
            << claims.dump();
    }
}

TEST(jwt_refuses, missing_or_invalid_sub) {
    const auto a = authority();
    for (const auto& claims : {
             without(valid_claims(), "sub"),
             with(valid_claims(), "sub", ""),
             with(valid_claims(), "sub", "two words"),
             with(valid_claims(), "sub", "slash/y"),
             with(valid_claims(), "sub", std::string(129, 'a')),
             with(valid_claims(), "sub", 42),
             with(valid_claims(), "sub", nullptr),
             with(valid_claims(), "sub", json::array({"c1"})),
         }) {
        EXPECT_TRUE(refused(a.verify(sign(claims), now), auth_errc::invalid_claims))
            << claims.dump();
    }
    EXPECT_TRUE(
        a.verify(sign(with(valid_claims(), "sub", std::string(128, 'a'))), now).has_value());
}

TEST(jwt_refuses, missing_or_invalid_roles) {
    const auto a = authority();
    for (const auto& claims : {
             without(valid_claims(), "roles"),
             with(valid_claims(), "roles", json::array()),
             with(valid_claims(), "roles", "admin"),
             with(valid_claims(), "roles", json::array({"root"})),
             with(valid_claims(), "roles", json::array({"customer", "system"})),
             with(valid_claims(), "roles", json::array({"Admin"})),
             with(valid_claims(), "roles", json::array({1})),
             with(valid_claims(), "roles", json::array({nullptr})),
             with(valid_claims(), "roles", json::object({{"admin", true}})),
         }) {
        EXPECT_TRUE(refused(a.verify(sign(claims), now), auth_errc::invalid_claims))
            << claims.dump();
    }
}

TEST(jwt_claims, an_admin_role_wins) {
    const auto a = authority();
    for (const auto& roles :
         {json::array({"customer", "admin"}), json::array({"admin", "customer"}),
          json::array({"admin", "admin"})}) {
        auto actor = a.verify(sign(with(valid_claims(), "roles", roles)), now);
        ASSERT_TRUE(actor.has_value()) << roles.dump() << ": " << actor.error().description;
        EXPECT_EQ(actor->role, domain::role::admin) << roles.dump();
    }
    auto customer = a.verify(sign(with(valid_claims(), "roles", {"customer", "customer"})), now);
    ASSERT_TRUE(customer.has_value());
    EXPECT_EQ(*customer, (domain::actor{"customer-1", domain::role::customer}));
}

TEST(jwt_claims, unknown_claims_and_header_parameters_are_ignored) {
    auto actor = authority().verify(sign(with(with(valid_claims(), "aud", "shop"), "jti", "x1"),
                                         JWT_ALG_HS256, secret, R"({"kid":"k1"})"),
                                    now);
    ASSERT_TRUE(actor.has_value()) << actor.error().description;
    EXPECT_EQ(actor->id, "customer-1");
}

TEST(jwt_authority, verifies_and_mints_concurrently) {
    const auto a = authority();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&a, &failures, t] {
            const std::string sub = "customer-" + std::to_string(t);
            for (int i = 0; i < 200; ++i) {
                auto token = a.mint(sub, domain::role::customer, 1h, now);
                auto actor = token ? a.verify(*token, now) : fail(auth_error{});
                if (!actor || actor->id != sub) ++failures;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
}

// ---- Authorization header ------------------------------------------------------------------

TEST(jwt_bearer, takes_the_token_of_a_bearer_header) {
    for (const auto& [value, token] : std::vector<std::pair<std::string, std::string>>{
             {"Bearer abc.def.ghi", "abc.def.ghi"},
             {"bearer abc.def.ghi", "abc.def.ghi"},
             {"BEARER abc", "abc"},
             {"BeArEr abc", "abc"},
             {"  Bearer   abc  ", "abc"},
             {"Bearer\tabc", "abc"},
             {"Bearer a-b_c~d+e/f==", "a-b_c~d+e/f=="},
         }) {
        auto parsed = parse_bearer(value);
        ASSERT_TRUE(parsed.has_value()) << value << ": " << parsed.error().description;
        EXPECT_EQ(*parsed, token) << value;
    }
}

TEST(jwt_bearer, refuses_other_schemes_and_malformed_values) {
    for (const auto& [value, code] : std::vector<std::pair<std::string, auth_errc>>{
             {"", auth_errc::missing_credentials},
             {"   ", auth_errc::missing_credentials},
             {"Basic dXNlcjpwYXNz", auth_errc::unsupported_scheme},
             {"Digest username=x", auth_errc::unsupported_scheme},
             {"Bearerabc", auth_errc::unsupported_scheme},
             {"Token abc", auth_errc::unsupported_scheme},
             {"Bearer", auth_errc::invalid_request},
             {"Bearer ", auth_errc::invalid_request},
             {"Bearer a b", auth_errc::invalid_request},
             {"Bearer a,b", auth_errc::invalid_request},
             {"Bearer a=b", auth_errc::invalid_request},
             {"Bearer =abc", auth_errc::invalid_request},
             {"Bearer abc\"", auth_errc::invalid_request},
             {"Bearer realm=\"x\"", auth_errc::invalid_request},
         }) {
        auto parsed = parse_bearer(value);
        ASSERT_FALSE(parsed.has_value()) << "'" << value << "' accepted";
        EXPECT_EQ(parsed.error().code, code) << "'" << value << "'";
        EXPECT_TRUE(is_safe_description(parsed.error().description)) << value;
    }
}

TEST(jwt_bearer, www_authenticate_values) {
    EXPECT_EQ(www_authenticate({auth_errc::missing_credentials, "no bearer token"}), "Bearer");
    EXPECT_EQ(www_authenticate({auth_errc::unsupported_scheme, "x"}), "Bearer");
    EXPECT_EQ(www_authenticate({auth_errc::invalid_request, "Bearer needs a token"}),
              R"(Bearer error="invalid_request", error_description="Bearer needs a token")");
    auto expired = authority().verify(sign(with(valid_claims(), "exp", t0 - 3600)), now);
    ASSERT_FALSE(expired.has_value());
    EXPECT_EQ(www_authenticate(expired.error()),
              R"(Bearer error="invalid_token", error_description="the token has expired")");
}

// ---- ttl ---------------------------------------------------------------------------------

TEST(jwt_ttl, accepts_seconds_minutes_hours_days) {
    EXPECT_EQ(parse_ttl("30s"), std::chrono::seconds(30));
    EXPECT_EQ(parse_ttl("15m"), std::chrono::seconds(900));
    EXPECT_EQ(parse_ttl("1h"), std::chrono::seconds(3600));
    EXPECT_EQ(parse_ttl("7d"), std::chrono::seconds(7 * 86400));
    EXPECT_EQ(parse_ttl("366d"), jwt_authority::max_ttl);
    EXPECT_EQ(parse_ttl("0001h"), std::chrono::seconds(3600));
}

TEST(jwt_ttl, refuses_anything_else) {
    for (const std::string text :
         {"", "h", "1", "0s", "0d", "1y", "1H", "-1h", "+1h", " 1h", "1h ", "1.5h", "1h30m", "367d",
          "31622401s", "99999999999999999999d", "9223372036854775807s"}) {
        auto parsed = parse_ttl(text);
        EXPECT_FALSE(parsed.has_value()) << "'" << text << "' gave " << parsed->count();
        if (!parsed) {
            EXPECT_FALSE(parsed.error().message.empty());
            EXPECT_EQ(parsed.error().code, errc::invalid_ttl) << text;
        }
    }
}

}  // namespace
}  // namespace shopstream::adapters::auth
