#pragma once
// Bearer-token authentication for the HTTP API (issue #4): HS256 JSON Web Tokens,
// parsed and minted with libjwt (Debian libjwt-dev), which stays out of this header; the
// signature is checked with OpenSSL in constant time, never by libjwt (jwt.cpp says why).
//
// A token carries `sub` (the customer id, domain::is_valid_id), `roles` (a non-empty
// array of "customer"/"admin"; admin wins), `exp` (required), and optionally `nbf` and
// `iat`, all integer seconds since the Unix epoch. Only `alg: HS256` is accepted: libjwt
// 1.10 itself verifies HS384/HS512 tokens signed with the same secret and, given no key,
// accepts `alg: none`, so the header is checked here before and after libjwt's verdict.
// The caller passes the current time, so tests control it; a leeway absorbs clock skew.
//
// Thread-safety: a jwt_authority is immutable after create(); verify() and mint() may be
// called concurrently from any number of threads (each call owns its libjwt objects).
// The free functions are pure.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/auth/errc.hpp"
#include "base/result.hpp"
#include "domain/common.hpp"

namespace shopstream::adapters::auth {

// Why a request is not authenticated. The HTTP layer answers 401 with the
// WWW-Authenticate value from www_authenticate() (RFC 6750 section 3).
enum class auth_errc : std::uint8_t {
    missing_credentials,    // no Authorization header
    unsupported_scheme,     // Authorization with another scheme (Basic, ...)
    invalid_request,        // "Bearer" without exactly one well-formed token
    malformed_token,        // not a compact JWS with JSON header and payload
    unsupported_algorithm,  // alg is not exactly "HS256" (none, HS512, RS256, ...), or crit
    bad_signature,          // signed with another secret, or tampered with
    expired,                // exp <= now - leeway
    not_yet_valid,          // nbf > now + leeway
    invalid_claims,         // sub, roles, exp, nbf or iat missing or of the wrong shape
};

struct auth_error {
    auth_errc code = auth_errc::malformed_token;
    // Always a string literal (never text from the token), safe inside an RFC 6750
    // quoted error_description: printable ASCII without '"' or '\'.
    std::string_view description;

    friend bool operator==(const auth_error&, const auth_error&) = default;
};

// The WWW-Authenticate header value for a 401: `Bearer` alone when the request carried
// no bearer credentials (RFC 6750 3.1 asks for no error code then), otherwise
// `Bearer error="invalid_token", error_description="..."` (or invalid_request).
[[nodiscard]] std::string www_authenticate(const auth_error& error);

// The token in an `Authorization` header value: scheme "Bearer" (any case), one or more
// spaces, then exactly one RFC 6750 b64token. Surrounding spaces and tabs are ignored.
// The view points into `header_value`. An empty value is missing_credentials.
[[nodiscard]] result<std::string_view, auth_error> parse_bearer(std::string_view header_value);

// A time-to-live as written on the command line: a positive integer and one unit,
// `30s`, `15m`, `1h`, `7d`; at most max_ttl. The error is errc::invalid_ttl with a
// sentence for humans.
[[nodiscard]] result<std::chrono::seconds, error> parse_ttl(std::string_view text);

struct jwt_options {
    // Clock skew tolerated on exp and nbf; 0 to 3600 seconds.
    std::chrono::seconds leeway{30};
};

class jwt_authority {
public:
    static constexpr std::size_t min_secret_bytes = 32;  // HS256's output size (RFC 7518 3.2)
    static constexpr std::size_t max_token_bytes = 8192;
    static constexpr std::chrono::seconds max_ttl{std::chrono::days(366)};

    // Fails with a sentence for humans when the secret is shorter than min_secret_bytes
    // (errc::invalid_secret) or the leeway is out of range (errc::invalid_leeway).
    [[nodiscard]] static result<jwt_authority, error> create(std::string secret, jwt_options options = {});

    // The actor a bearer token speaks for: id = sub, role = admin if roles holds
    // "admin", else customer.
    [[nodiscard]] result<domain::actor, auth_error> verify(std::string_view token,
                                                           std::chrono::sys_seconds now) const;

    // A token for `sub` acting as `role` (customer or admin) with iat = nbf = now and
    // exp = now + ttl. Fails with a sentence for humans on an invalid sub
    // (errc::invalid_subject), a system role (invalid_role), or a ttl outside
    // (0, max_ttl] (invalid_ttl).
    [[nodiscard]] result<std::string, error> mint(std::string_view sub, domain::role role, std::chrono::seconds ttl,
                                                  std::chrono::sys_seconds now) const;

private:
    jwt_authority(std::string secret, jwt_options options)
        : secret_(std::move(secret)), options_(options) {}

    std::string secret_;
    jwt_options options_;
};

}  // namespace shopstream::adapters::auth
