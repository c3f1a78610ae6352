#pragma once
// Problem details (RFC 9457): the one shape of every error the HTTP API returns, sent as
// `application/problem+json`. A `problem` is a plain value; the constructors below give
// every error of issue #4 its status, a stable `type` URI (https://shopstream.dev/problems/…)
// and a title, and `render()` turns it into the response body. Headers an error needs
// (Allow, Retry-After, WWW-Authenticate) travel in `problem::headers` so the server sends
// them without knowing which error it holds.
//
// Field-level errors of a request body are collected, never reported one at a time: a
// body with three bad fields gets one 422 `validation` problem listing all three in
// `errors: [{field, code, message}]`, where `field` is a JSON pointer (RFC 6901) into the
// request body ("/lines/2/unitPrice/amount") and `code` a stable machine-readable name of
// the error class (`wrong_type`, `missing_field`, …).
//
// Status choices: a body that is not UTF-8 or not JSON is 400 (nothing in it can be
// read); a body that is JSON but of the wrong shape, and a command the domain refuses as
// invalid, are both 422 `validation`, so a client handles field errors in one place.
//
// Pure functions over values; everything here is thread-compatible (distinct values may
// be used from distinct threads freely).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace shopstream::commands {
struct command_error;
}

namespace shopstream::adapters::http {

inline constexpr std::string_view problem_content_type = "application/problem+json";
inline constexpr std::string_view problem_type_base = "https://shopstream.dev/problems/";

// One error of one field of a request body.
struct field_error {
    std::string field;    // JSON pointer into the body; "" is the whole body
    std::string code;     // wrong_type, missing_field, unknown_field, unknown_enum_value, …
    std::string message;  // for humans

    friend bool operator==(const field_error&, const field_error&) = default;
};

// An extension member of a problem ("retryAfter": 3, "offset": 17, "allow": ["GET"]).
using extension_value = std::variant<std::int64_t, std::string, std::vector<std::string>>;

struct problem {
    std::string type;   // absolute URI, stable: clients switch on it
    std::string title;  // short, the same for every problem of a type
    int status = 500;
    std::string detail;               // this occurrence, for humans
    std::string instance;             // optional (the request path); omitted when empty
    std::vector<field_error> errors;  // omitted when empty
    std::vector<std::pair<std::string, extension_value>> extensions;  // in this order
    // Response headers this problem requires (name, value), e.g. {"Retry-After", "3"}.
    std::vector<std::pair<std::string, std::string>> headers;

    friend bool operator==(const problem&, const problem&) = default;
};

// The JSON body: {type, title, status, detail, instance?, errors?, <extensions>…}.
// Strings that are not valid UTF-8 are rendered with U+FFFD, never rejected.
[[nodiscard]] std::string render(const problem& p);

// ---- field errors (collected into validation_failed) ---------------------------------

// `expected` and `actual` are JSON type names: object, array, string, integer, number,
// boolean, null.
[[nodiscard]] field_error wrong_type(std::string pointer, std::string_view expected, std::string_view actual);
[[nodiscard]] field_error missing_field(std::string pointer);
// Command bodies are closed: a member the route does not define is an error (a typo
// such as "quantiy" must not silently fall back to a default).
[[nodiscard]] field_error unknown_field(std::string pointer);
[[nodiscard]] field_error unknown_enum_value(std::string pointer, std::string_view got,
                                             const std::vector<std::string_view>& allowed);
// The same key twice in one object: rejected, since parsers disagree about which wins.
[[nodiscard]] field_error duplicate_key(std::string pointer);
// An integer outside the signed 64-bit range (`lexeme` as the client wrote it).
[[nodiscard]] field_error integer_overflow(std::string pointer, std::string_view lexeme);
// A number with a fraction or an exponent where an integer is required ("2.0", "1e3").
[[nodiscard]] field_error not_an_integer(std::string pointer, std::string_view lexeme);
// A number outside the range the field allows (or one no double can hold, "1e400").
[[nodiscard]] field_error out_of_range(std::string pointer, std::string message);
// Any other rule a single field breaks (e.g. a line currency that differs).
[[nodiscard]] field_error invalid_field(std::string pointer, std::string message);

// ---- problems ------------------------------------------------------------------------

// 400: the body is not JSON; `offset` is the 0-based byte offset where parsing failed
// (the body's length when it ended too early). Extension: offset.
[[nodiscard]] problem malformed_json(std::size_t offset, std::string detail);
// 400: the body is not UTF-8; `offset` is the first byte of the bad sequence.
[[nodiscard]] problem invalid_utf8(std::size_t offset);
// 422: the body's fields, every error at once.
[[nodiscard]] problem validation_failed(std::vector<field_error> errors);
// 422 with a detail of its own (a domain rule; `errors` may be empty when the rule
// concerns no body field).
[[nodiscard]] problem validation_failed(std::string detail, std::vector<field_error> errors);
// 400: a header the request carries is malformed (If-Match: abc).
[[nodiscard]] problem bad_header(std::string_view name, std::string detail);
// 400: a query parameter is malformed (?minPosition=abc). Extension: parameter.
[[nodiscard]] problem bad_query_parameter(std::string_view name, std::string detail);
// 413. Extension: maxBytes.
[[nodiscard]] problem payload_too_large(std::size_t limit_bytes);
// 431 (RFC 6585): a header field, their number or the whole head past the server's limits;
// `field` names the header field ("header" member), "" when their number is the problem.
[[nodiscard]] problem header_fields_too_large(std::string_view field, std::string detail);
// 414 (RFC 9110): a request target longer than the server reads.
[[nodiscard]] problem uri_too_long(std::size_t limit_bytes);
// 404 for a path no route matches (not_found is for a missing resource).
[[nodiscard]] problem route_not_found(std::string_view method, std::string_view path);
// 405 with the Allow header (and the `allow` extension) from `allowed`.
[[nodiscard]] problem method_not_allowed(std::string_view method, const std::vector<std::string>& allowed);
// 415: the body must be application/json. Extension: supported.
[[nodiscard]] problem unsupported_media_type(std::string_view got);
// 401 with `WWW-Authenticate: Bearer realm="shopstream"`, plus error="invalid_token"
// (RFC 6750) when a token was presented but refused.
[[nodiscard]] problem unauthorized(std::string detail, bool token_presented);
[[nodiscard]] problem forbidden(std::string detail);
[[nodiscard]] problem not_found(std::string detail);
[[nodiscard]] problem conflict(std::string detail);
[[nodiscard]] problem precondition_failed(std::string detail);
// 422: an Idempotency-Key reused with a different body.
[[nodiscard]] problem idempotency_key_reused();
// 429 with Retry-After (seconds, at least 1). Extension: retryAfter.
[[nodiscard]] problem too_many_requests(std::int64_t retry_after_seconds);
// 503 with Retry-After (seconds, at least 1). Extension: retryAfter.
[[nodiscard]] problem unavailable(std::string detail, std::int64_t retry_after_seconds);
// 504: no verdict in time; the command may still apply, a retry with the same
// Idempotency-Key is safe.
[[nodiscard]] problem timeout(std::string detail);
// 500. `detail` must not carry internals (store paths, messages): log those instead.
[[nodiscard]] problem internal_error(std::string detail);

// ---- command errors ------------------------------------------------------------------

// The command route an error came from: domain rejections name fields of the command
// ("/currency", "/lines/1/unitPrice", "/sku"), and only the route knows where, if
// anywhere, that field sits in the request body.
enum class command_route : std::uint8_t {
    place_order,      // POST /v1/orders
    cancel_order,     // POST /v1/orders/{id}/cancel
    ship_order,       // POST /v1/orders/{id}/ship
    submit_review,    // POST /v1/products/{sku}/reviews
    edit_review,      // PUT /v1/reviews/{id}
    retract_review,   // DELETE /v1/reviews/{id}
    vote_helpful,     // POST /v1/reviews/{id}/helpful
    moderate_review,  // POST /v1/reviews/{id}/moderation
};

// Where a domain rejection field lands for a route.
struct body_field {
    enum class kind : std::uint8_t {
        body,       // `pointer` is a JSON pointer into the request body
        path,       // the path parameter named `pointer` ("sku")
        principal,  // the authenticated caller (the customer id comes from the token)
        none,       // the rejection concerns no field
    };
    kind where = kind::none;
    std::string pointer;

    friend bool operator==(const body_field&, const body_field&) = default;
};
[[nodiscard]] body_field locate_field(command_route route, std::string_view domain_field);

// rejected → by rejection code: invalid 422 (with the field located as above), forbidden
// 403, not_found 404, conflict 409, precondition_failed 412; precondition_failed 412;
// conflict 409 (lost to concurrent writers: retry); timed_out 504; unavailable 503 with
// Retry-After 1; internal 500 (the message is not disclosed).
[[nodiscard]] problem from_command_error(const commands::command_error& error, command_route route);

}  // namespace shopstream::adapters::http
