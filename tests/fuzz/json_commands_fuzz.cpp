// Fuzz target: request bodies through the strict JSON command mapping of every command
// route (adapters/http/json_mapping.hpp), and If-Match headers through
// expected_version_from_if_match.
//
// Input: the first byte's low four bits pick the route (`route_of`; seeds start with the
// digit '0'..'8'), the rest is the body (or the header). Invariants: a refusal is a 4xx
// problem whose field errors point into the body; an accepted body is at most
// max_body_bytes of valid UTF-8 that nlohmann's own parser accepts too (the strict reader
// accepts a subset of JSON, never more) or, for a route without fields, blank; an
// accepted order's lines are the body's, all in its currency.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "adapters/http/json_mapping.hpp"
#include "base/utf8.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace http = shopstream::adapters::http;
namespace domain = shopstream::domain;
using shopstream::fuzz::broken;

enum class route : std::uint8_t {
    place_order,
    cancel_order,
    ship_order,
    submit_review,
    edit_review,
    retract_review,
    vote_helpful,
    moderate_review,
    if_match,
};
constexpr unsigned route_count = 9;

route route_of(std::uint8_t selector) { return static_cast<route>((selector & 0x0f) % route_count); }

bool is_blank(std::string_view body) {
    return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

void check_refusal(const http::problem& p) {
    FUZZ_CHECK(p.status >= 400 && p.status < 500);
    FUZZ_CHECK(!p.type.empty() && !p.title.empty());
    for (const auto& e : p.errors) {
        FUZZ_CHECK(e.field.empty() || e.field.front() == '/');
        FUZZ_CHECK(!e.code.empty());
    }
}

// What every accepted body is, whichever route read it.
void check_accepted(std::string_view body, bool has_fields) {
    FUZZ_CHECK(body.size() <= http::max_body_bytes);
    FUZZ_CHECK(shopstream::utf8::is_valid(body));
    if (!has_fields && is_blank(body)) return;
    const auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(!parsed.is_discarded());
    FUZZ_CHECK(parsed.is_object());
    if (!has_fields) FUZZ_CHECK(parsed.empty());
}

// The lines read are the body's, each priced in the order's one currency, and so is the token.
void check_order(std::string_view body, const domain::order::place_order& cmd) {
    const auto parsed = nlohmann::json::parse(body);
    const auto& lines = parsed.at("lines");
    FUZZ_CHECK(lines.size() == cmd.lines.size());
    for (std::size_t i = 0; i < cmd.lines.size(); ++i) {
        FUZZ_CHECK(lines[i].at("sku") == cmd.lines[i].sku);
        FUZZ_CHECK(lines[i].at("quantity") == cmd.lines[i].quantity);
        FUZZ_CHECK(lines[i].at("unitPrice").at("amount") == cmd.lines[i].unit_price);
        FUZZ_CHECK(lines[i].at("unitPrice").at("currency") == cmd.currency);
    }
    FUZZ_CHECK(parsed.at("paymentMethod").at("token") == cmd.payment_method_token);
}

template <class Result>
void check(const Result& r, std::string_view body, bool has_fields) {
    if (r) {
        check_accepted(body, has_fields);
    } else {
        check_refusal(r.error());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body = shopstream::fuzz::as_text({data + 1, size - 1});
    const http::request_context ctx{domain::actor{"cust-1", domain::role::customer}, 1'700'000'000'000};
    constexpr std::string_view order_id = "ord-1";
    constexpr std::string_view review_id = "rev-1";
    switch (route_of(data[0])) {
        case route::place_order: {
            const auto r = http::place_order_from_request(body, ctx, "ord-generated");
            check(r, body, true);
            if (r) check_order(body, *r);
            break;
        }
        case route::cancel_order:
            check(http::cancel_order_from_request(order_id, body, ctx), body, false);
            break;
        case route::ship_order:
            check(http::ship_order_from_request(order_id, body, ctx), body, false);
            break;
        case route::submit_review:
            check(http::submit_review_from_request("sku-1", body, ctx), body, true);
            break;
        case route::edit_review:
            check(http::edit_review_from_request(review_id, body, ctx), body, true);
            break;
        case route::retract_review:
            check(http::retract_review_from_request(review_id, body, ctx), body, false);
            break;
        case route::vote_helpful:
            check(http::vote_helpful_from_request(review_id, body, ctx), body, false);
            break;
        case route::moderate_review:
            check(http::moderate_review_from_request(review_id, body, ctx), body, true);
            break;
        case route::if_match: {
            const auto r = http::expected_version_from_if_match(body);
            if (!r) {
                check_refusal(r.error());
            } else {
                // Entity tags compare character by character (RFC 9110 8.8.3.2): the
                // header, spaces and tabs around it aside, is what etag() writes.
                const auto first = body.find_first_not_of(" \t");
                const auto tag = body.substr(first, body.find_last_not_of(" \t") - first + 1);
                FUZZ_CHECK(tag == (*r ? http::etag(**r) : std::string("*")));
            }
            break;
        }
        default:
            broken("route_of covers every route", __FILE__, __LINE__);
    }
    return 0;
}
