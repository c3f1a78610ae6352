// Fuzz target: the bearer-token path of every authenticated request
// (adapters/auth/jwt.hpp): parse_bearer on an Authorization header, then
// jwt_authority::verify with a fixed secret and clock.
//
// Input: the first byte picks the mode (its lowest bit; seeds start with '0' or '1').
//   '0'  the rest is the Authorization header value, verified as the server does;
//   '1'  the rest is a header JSON and a payload JSON split at the first NUL (or the
//        header alone), which the target encodes and signs with the secret
//        (jwt_verify.hpp) so that the fuzzer reaches the alg, crit and claim rules a
//        forged signature never gets past.
// Invariants: a refusal describes itself as printable ASCII without '"' or '\' (it goes
// into a WWW-Authenticate quoted string); an accepted token speaks for a valid id as a
// customer or an admin, and a token minted for that actor verifies to the same actor.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "adapters/auth/jwt.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/jwt_verify.hpp"

namespace {

namespace auth = shopstream::adapters::auth;
namespace domain = shopstream::domain;
namespace fjwt = shopstream::fuzz::jwt;

const auth::jwt_authority& authority() {
    static const auth::jwt_authority a = *auth::jwt_authority::create(std::string(fjwt::secret));
    return a;
}

void check_refusal(const auth::auth_error& e) {
    FUZZ_CHECK(!e.description.empty());
    for (const char c : e.description) FUZZ_CHECK(c >= 0x20 && c < 0x7f && c != '"' && c != '\\');
    const std::string challenge = auth::www_authenticate(e);
    FUZZ_CHECK(challenge.starts_with("Bearer"));
}

void check_verdict(const shopstream::result<domain::actor, auth::auth_error>& verdict) {
    if (!verdict) {
        check_refusal(verdict.error());
        return;
    }
    FUZZ_CHECK(domain::is_valid_id(verdict->id));
    FUZZ_CHECK(verdict->role == domain::role::customer || verdict->role == domain::role::admin);
    const auto minted = authority().mint(verdict->id, verdict->role, std::chrono::hours(1), fjwt::now);
    FUZZ_CHECK(minted.has_value());
    const auto again = authority().verify(*minted, fjwt::now);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == *verdict);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest = shopstream::fuzz::as_text({data + 1, size - 1});
    if ((data[0] & 1) == 0) {
        const auto token = auth::parse_bearer(rest);
        if (!token) {
            check_refusal(token.error());
            return 0;
        }
        check_verdict(authority().verify(*token, fjwt::now));
    } else {
        const auto split = rest.find('\0');
        const std::string token = split == std::string_view::npos
                                      ? fjwt::signed_token(rest, "")
                                      : fjwt::signed_token(rest.substr(0, split), rest.substr(split + 1));
        check_verdict(authority().verify(token, fjwt::now));
    }
    return 0;
}
