#include "domain/common.hpp"

#include <algorithm>
#include <array>

namespace shopstream::domain {
namespace {

// Active ISO 4217 alphabetic codes (list one, 2024 amendment 178), sorted for binary
// search. Fund codes and precious metals (XAU, XDR, ...) are not money a shop takes.
constexpr std::array<std::string_view, 156> iso4217 = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
};

constexpr bool sorted_and_unique() {
    for (std::size_t i = 1; i < iso4217.size(); ++i) {
        if (!(iso4217[i - 1] < iso4217[i])) return false;
    }
    return true;
}
static_assert(sorted_and_unique(), "iso4217 must stay sorted for binary search");

bool is_alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

result<currency, std::string> currency::parse(std::string_view code) {
    if (code.size() != 3 || !std::binary_search(iso4217.begin(), iso4217.end(), code)) {
        return fail(std::string("not an active ISO 4217 currency code (e.g. \"EUR\")"));
    }
    currency c;
    std::copy(code.begin(), code.end(), c.code_);
    return c;
}

std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t out = 0;
    if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
    return out;
}

std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t out = 0;
    if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
    return out;
}

bool is_valid_sku(std::string_view sku) noexcept {
    if (sku.empty() || sku.size() > 64 || !is_alnum(sku.front())) return false;
    return std::all_of(sku.begin(), sku.end(),
                       [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool is_valid_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > 128) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
    });
}

}  // namespace shopstream::domain
