#include "queries/errc.hpp"

namespace shopstream::queries {

const char* category_name(errc) noexcept { return "shopstream.queries"; }

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::invalid_argument: return "a query parameter is not valid";
        case errc::not_found: return "no such item";
        case errc::unavailable: return "the read model cannot be queried";
        case errc::not_yet_applied: return "the read model has not applied the position yet";
    }
    return "unknown query error";
}

}  // namespace shopstream::queries
