#include "adapters/http/errc.hpp"

namespace shopstream::adapters::http {

const char* category_name(errc) noexcept { return "shopstream.http"; }

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::address_in_use: return "the address is in use";
        case errc::listen_failed: return "cannot listen on the address";
        case errc::permission_denied: return "permission denied";
        case errc::already_open: return "the store is open already in this process";
        case errc::store_full: return "the idempotency store is full";
        case errc::store_corrupted: return "the idempotency store is damaged";
        case errc::io: return "the idempotency store cannot be read or written";
    }
    return "unknown HTTP error";
}

}  // namespace shopstream::adapters::http
