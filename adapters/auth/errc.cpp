#include "adapters/auth/errc.hpp"

namespace shopstream::adapters::auth {

const char* category_name(errc) noexcept { return "shopstream.auth"; }

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::invalid_ttl: return "not a valid token time-to-live";
        case errc::invalid_secret: return "not a valid JWT secret";
        case errc::invalid_leeway: return "not a valid JWT leeway";
        case errc::invalid_subject: return "not a valid token subject";
        case errc::invalid_role: return "not a role a token can carry";
        case errc::clock_out_of_range: return "the time is out of a token's range";
        case errc::signing_failed: return "the token could not be signed";
    }
    return "unknown auth error";
}

}  // namespace shopstream::adapters::auth
