#include "adapters/http/problem.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

#include "commands/command_handler.hpp"
#include "domain/common.hpp"

namespace shopstream::adapters::http {
namespace {

using json = nlohmann::json;

std::string type_uri(std::string_view slug) {
    std::string out(problem_type_base);
    out += slug;
    return out;
}

problem make(std::string_view slug, std::string title, int status, std::string detail) {
    problem p;
    p.type = type_uri(slug);
    p.title = std::move(title);
    p.status = status;
    p.detail = std::move(detail);
    return p;
}

std::string quoted(std::string_view s) {
    std::string out = "'";
    out += s;
    out += "'";
    return out;
}

std::int64_t at_least_one(std::int64_t seconds) { return std::max<std::int64_t>(seconds, 1); }

}  // namespace

std::string render(const problem& p) {
    json body = json::object();
    body["type"] = p.type;
    body["title"] = p.title;
    body["status"] = p.status;
    body["detail"] = p.detail;
    if (!p.instance.empty()) body["instance"] = p.instance;
    if (!p.errors.empty()) {
        json errors = json::array();
        for (const auto& e : p.errors) {
            errors.push_back({{"field", e.field}, {"code", e.code}, {"message", e.message}});
        }
        body["errors"] = std::move(errors);
    }
    for (const auto& [name, value] : p.extensions) {
        std::visit([&, &key = name](const auto& v) { body[key] = v; }, value);
    }
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- field errors ------------------------------------------------------------------

field_error wrong_type(std::string pointer, std::string_view expected, std::string_view actual) {
    return {
        std::move(pointer), "wrong_type",
        "must be " +
            std::string(expected == "integer" || expected == "array" || expected == "object" ? "an " : "a ") +
            std::string(expected) + ", got " + std::string(actual)};
}

field_error missing_field(std::string pointer) {
    return {std::move(pointer), "missing_field", "is required"};
}

field_error unknown_field(std::string pointer) {
    return {std::move(pointer), "unknown_field", "is not a member of this request"};
}

field_error unknown_enum_value(std::string pointer, std::string_view got,
                               const std::vector<std::string_view>& allowed) {
    std::string message = "must be one of ";
    for (std::size_t i = 0; i < allowed.size(); ++i) {
        if (i > 0) message += i + 1 == allowed.size() ? " or " : ", ";
        message += quoted(allowed[i]);
    }
    message += ", got " + quoted(got);
    return {std::move(pointer), "unknown_enum_value", std::move(message)};
}

field_error duplicate_key(std::string pointer) {
    return {std::move(pointer), "duplicate_key", "appears more than once in its object"};
}

field_error integer_overflow(std::string pointer, std::string_view lexeme) {
    return {std::move(pointer), "integer_overflow",
            std::string(lexeme) + " is outside the 64-bit integer range"};
}

field_error not_an_integer(std::string pointer, std::string_view lexeme) {
    return {std::move(pointer), "not_an_integer",
            "must be an integer without fraction or exponent, got " + std::string(lexeme)};
}

field_error out_of_range(std::string pointer, std::string message) {
    return {std::move(pointer), "out_of_range", std::move(message)};
}

field_error invalid_field(std::string pointer, std::string message) {
    return {std::move(pointer), "invalid", std::move(message)};
}

// ---- problems ----------------------------------------------------------------------

problem malformed_json(std::size_t offset, std::string detail) {
    problem p = make("malformed-json", "Malformed JSON", 400, std::move(detail));
    p.extensions.emplace_back("offset", static_cast<std::int64_t>(offset));
    return p;
}

problem invalid_utf8(std::size_t offset) {
    problem p = make("invalid-utf8", "Invalid UTF-8", 400,
                     "the body is not valid UTF-8 at byte " + std::to_string(offset));
    p.extensions.emplace_back("offset", static_cast<std::int64_t>(offset));
    return p;
}

problem validation_failed(std::vector<field_error> errors) {
    const std::size_t n = errors.size();
    return validation_failed(n == 1 ? "1 field of the request body is invalid"
                                    : std::to_string(n) + " fields of the request body are invalid",
                             std::move(errors));
}

problem validation_failed(std::string detail, std::vector<field_error> errors) {
    problem p = make("validation", "Invalid request", 422, std::move(detail));
    p.errors = std::move(errors);
    return p;
}

problem bad_header(std::string_view name, std::string detail) {
    return make("bad-header", "Malformed header", 400, std::string(name) + ": " + std::move(detail));
}

problem bad_query_parameter(std::string_view name, std::string detail) {
    problem p = make("bad-query-parameter", "Malformed query parameter", 400,
                     std::string(name) + ": " + std::move(detail));
    p.extensions.emplace_back("parameter", std::string(name));
    return p;
}

problem payload_too_large(std::size_t limit_bytes) {
    problem p = make("payload-too-large", "Request body too large", 413,
                     "the body exceeds " + std::to_string(limit_bytes) + " bytes");
    p.extensions.emplace_back("maxBytes", static_cast<std::int64_t>(limit_bytes));
    return p;
}

problem header_fields_too_large(std::string_view field, std::string detail) {
    problem p = make("header-fields-too-large", "Request header fields too large", 431, std::move(detail));
    if (!field.empty() && field != "-") p.extensions.emplace_back("header", std::string(field));
    return p;
}

problem uri_too_long(std::size_t limit_bytes) {
    problem p = make("uri-too-long", "Request target too long", 414,
                     "the request target exceeds " + std::to_string(limit_bytes) + " bytes");
    p.extensions.emplace_back("maxBytes", static_cast<std::int64_t>(limit_bytes));
    return p;
}

problem route_not_found(std::string_view method, std::string_view path) {
    return make("route-not-found", "No such route", 404,
                "no route for " + std::string(method) + " " + std::string(path));
}

problem method_not_allowed(std::string_view method, const std::vector<std::string>& allowed) {
    std::string allow;
    for (const auto& m : allowed) {
        if (!allow.empty()) allow += ", ";
        allow += m;
    }
    problem p = make("method-not-allowed", "Method not allowed", 405,
                     std::string(method) + " is not allowed here; allowed: " + allow);
    p.extensions.emplace_back("allow", allowed);
    p.headers.emplace_back("Allow", std::move(allow));
    return p;
}

problem unsupported_media_type(std::string_view got) {
    problem p = make("unsupported-media-type", "Unsupported media type", 415,
                     "the body must be application/json, got " +
                         (got.empty() ? std::string("no Content-Type") : quoted(got)));
    p.extensions.emplace_back("supported", std::vector<std::string>{"application/json"});
    return p;
}

problem unauthorized(std::string detail, bool token_presented) {
    problem p = make("unauthorized", "Unauthorized", 401, std::move(detail));
    p.headers.emplace_back("WWW-Authenticate", token_presented
                                                   ? R"(Bearer realm="shopstream", error="invalid_token")"
                                                   : R"(Bearer realm="shopstream")");
    return p;
}

problem forbidden(std::string detail) { return make("forbidden", "Forbidden", 403, std::move(detail)); }

problem not_found(std::string detail) { return make("not-found", "Not found", 404, std::move(detail)); }

problem conflict(std::string detail) { return make("conflict", "Conflict", 409, std::move(detail)); }

problem precondition_failed(std::string detail) {
    return make("precondition-failed", "Precondition failed", 412, std::move(detail));
}

problem idempotency_key_reused() {
    return make("idempotency-key-reused", "Idempotency key reused", 422,
                "this Idempotency-Key was used with a different request body");
}

problem too_many_requests(std::int64_t retry_after_seconds) {
    const auto s = at_least_one(retry_after_seconds);
    problem p = make("too-many-requests", "Too many requests", 429,
                     "rate limit exceeded; retry after " + std::to_string(s) + " s");
    p.extensions.emplace_back("retryAfter", s);
    p.headers.emplace_back("Retry-After", std::to_string(s));
    return p;
}

problem unavailable(std::string detail, std::int64_t retry_after_seconds) {
    const auto s = at_least_one(retry_after_seconds);
    problem p = make("unavailable", "Service unavailable", 503, std::move(detail));
    p.extensions.emplace_back("retryAfter", s);
    p.headers.emplace_back("Retry-After", std::to_string(s));
    return p;
}

problem timeout(std::string detail) { return make("timeout", "Timed out", 504, std::move(detail)); }

problem internal_error(std::string detail) {
    return make("internal", "Internal error", 500, std::move(detail));
}

// ---- command errors ----------------------------------------------------------------

namespace {

// "/lines/12/unitPrice" → 12, when `field` is exactly a line's unitPrice.
bool is_line_unit_price(std::string_view field) {
    constexpr std::string_view prefix = "/lines/";
    constexpr std::string_view suffix = "/unitPrice";
    if (!field.starts_with(prefix) || !field.ends_with(suffix)) return false;
    const auto index = field.substr(prefix.size(), field.size() - prefix.size() - suffix.size());
    return !index.empty() &&
           std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

body_field locate_field(command_route route, std::string_view domain_field) {
    using k = body_field::kind;
    if (domain_field.empty()) return {k::none, ""};
    switch (route) {
        case command_route::place_order:
            // The body carries money as {amount, currency} per line; the command has a raw
            // unit price per line and one currency taken from the lines.
            if (is_line_unit_price(domain_field)) return {k::body, std::string(domain_field) + "/amount"};
            if (domain_field == "/currency") return {k::body, "/lines/0/unitPrice/currency"};
            return {k::body, std::string(domain_field)};
        case command_route::submit_review:
            if (domain_field == "/sku") return {k::path, "sku"};
            if (domain_field == "/customerId") return {k::principal, ""};
            return {k::body, std::string(domain_field)};
        case command_route::edit_review:
        case command_route::moderate_review:
            return {k::body, std::string(domain_field)};
        case command_route::cancel_order:
        case command_route::ship_order:
        case command_route::retract_review:
        case command_route::vote_helpful:
            return {k::none, ""};  // bodies without fields: nothing to point at
    }
    return {k::none, ""};
}

namespace {

problem from_rejection(const domain::rejection& r, command_route route) {
    switch (r.code) {
        case domain::rejection_code::invalid: {
            const body_field where = locate_field(route, r.field);
            switch (where.where) {
                case body_field::kind::body:
                    return validation_failed({invalid_field(where.pointer, r.reason)});
                case body_field::kind::path:
                    return validation_failed("path parameter '" + where.pointer + "': " + r.reason, {});
                case body_field::kind::principal:
                    return validation_failed("the authenticated principal's id: " + r.reason, {});
                case body_field::kind::none:
                    return validation_failed(r.reason, {});
            }
            return validation_failed(r.reason, {});
        }
        case domain::rejection_code::forbidden:
            return forbidden(r.reason);
        case domain::rejection_code::not_found:
            return not_found(r.reason);
        case domain::rejection_code::conflict:
            return conflict(r.reason);
        case domain::rejection_code::precondition_failed:
            return precondition_failed(r.reason);
    }
    return internal_error("unknown rejection");
}

}  // namespace

problem from_command_error(const commands::command_error& error, command_route route) {
    switch (error.code) {
        case commands::command_errc::rejected:
            return from_rejection(error.rejection, route);
        case commands::command_errc::precondition_failed:
            return precondition_failed("the resource changed since the version in If-Match");
        case commands::command_errc::conflict:
            return conflict("the resource is being changed concurrently; retry the request");
        case commands::command_errc::timed_out:
            return timeout(
                "the command's outcome did not arrive in time; it may still apply. Retrying with "
                "the same Idempotency-Key is safe");
        case commands::command_errc::unavailable:
            return unavailable("nothing was appended: the event log cannot take the command now; retry", 1);
        case commands::command_errc::internal:
            return internal_error("the command could not be handled");
    }
    return internal_error("the command could not be handled");
}

}  // namespace shopstream::adapters::http
