#pragma once
// The JSON edge of the HTTP API (issue #4): request bodies → domain commands, and
// command outcomes, aggregate states and event histories → response bodies. No server
// here: the routes call these with what they parsed from the request (path parameters,
// the authenticated actor, the request time, the raw body bytes).
//
// Requests are read strictly, and every error of a body is reported at once (one 422
// problem, see problem.hpp): the body must be at most max_body_bytes, valid UTF-8, one
// JSON value that is an object; each member of the right JSON type; integers without
// fraction or exponent ("2.0" and "1e3" are refused) and within int64 ("-0" is the
// integer 0); enum strings among the listed values; required members present; no member
// the route does not define; no key twice in one object; `null` is never accepted for
// any member (leave an optional member out instead). Range and format rules (ratings
// 1-5, ISO currency codes, id syntax) are the domain deciders' and are NOT checked here;
// the edge checks only what the domain cannot see, i.e. that all lines of an order agree
// on the currency. A route without body fields (cancel, ship, retract, helpful) takes an
// empty (or all-whitespace) body or `{}`.
//
// Responses (camelCase; money as {amount, currency} in integer minor units; timestamps
// as RFC 3339 UTC with milliseconds; enums as lower-case strings; absent optionals as
// null) are returned as serialised JSON text. That keeps nlohmann out of this header and
// lets one place decide how text that is not UTF-8 is written (replaced by U+FFFD rather
// than throwing): the server only needs the bytes. Renderers a new route needs are added
// here.
//
// Every function is pure (no I/O, clock or randomness: the caller passes the request
// time and a freshly generated order id) and safe to call from any thread concurrently.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/problem.hpp"
#include "base/result.hpp"
#include "domain/common.hpp"
#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "domain/review/review.hpp"
#include "eventstore/context.hpp"

namespace shopstream::commands {
struct command_outcome;
}
namespace shopstream::eventstore {
struct recorded_event;
struct recorded_event_view;
}

namespace shopstream::adapters::http {

// Bodies past this size are refused with 413 before any parsing (issue #4: 64 KiB).
inline constexpr std::size_t max_body_bytes = 64 * 1024;

// Who sends the request and when (from the token and the server's clock).
struct request_context {
    domain::actor actor;
    domain::timestamp_ms at = 0;
};

// ---- requests → commands ---------------------------------------------------------------

// POST /v1/orders: {orderId?, customerId?, lines: [{sku, quantity, unitPrice: {amount,
// currency}}], paymentMethod: {token}}. The token's form (and that it is no card number)
// is the decider's to judge (domain/payment/method_token.hpp). orderId defaults to `generated_order_id`, customerId to the actor's id;
// the order's currency is the lines' common currency (empty when there are no lines: the
// decider then refuses the empty order).
[[nodiscard]] result<domain::order::place_order, problem> place_order_from_request(
    std::string_view body, const request_context& ctx, std::string_view generated_order_id);

// POST /v1/orders/{id}/cancel and POST /v1/orders/{id}/ship: body empty or {}.
[[nodiscard]] result<domain::order::cancel_order, problem> cancel_order_from_request(
    std::string_view order_id, std::string_view body, const request_context& ctx);
[[nodiscard]] result<domain::order::ship_order, problem> ship_order_from_request(std::string_view order_id,
                                                                                 std::string_view body,
                                                                                 const request_context& ctx);

// POST /v1/products/{sku}/reviews: {rating, title, body}; the author is the actor.
[[nodiscard]] result<domain::review::submit_review, problem> submit_review_from_request(
    std::string_view sku, std::string_view body, const request_context& ctx);
// PUT /v1/reviews/{id}: {rating, title, body}.
[[nodiscard]] result<domain::review::edit_review, problem> edit_review_from_request(
    std::string_view review_id, std::string_view body, const request_context& ctx);
// DELETE /v1/reviews/{id} and POST /v1/reviews/{id}/helpful: body empty or {}.
[[nodiscard]] result<domain::review::retract_review, problem> retract_review_from_request(
    std::string_view review_id, std::string_view body, const request_context& ctx);
[[nodiscard]] result<domain::review::vote_helpful, problem> vote_helpful_from_request(
    std::string_view review_id, std::string_view body, const request_context& ctx);
// POST /v1/reviews/{id}/moderation: {action: "hide"|"restore", reason}.
[[nodiscard]] result<domain::review::moderate_review, problem> moderate_review_from_request(
    std::string_view review_id, std::string_view body, const request_context& ctx);

// If-Match → the expected version: `"7"` → 7, `*` → nullopt (any version); anything
// else (weak tags, lists, non-numbers, a version with leading zeros: a tag etag() never
// writes) → 400 bad_header.
[[nodiscard]] result<std::optional<std::uint64_t>, problem> expected_version_from_if_match(
    std::string_view header);

// ---- responses -------------------------------------------------------------------------

// The ETag of an aggregate at `version`: "\"7\"" (quotes included).
[[nodiscard]] std::string etag(std::uint64_t version);

// A command's answer: {orderId, status, version, position} / {reviewId, status, version,
// position}. `status` is left out when not given; `position` is the position token naming
// its context ("orders:7:1234", "reviews:7:1234"), null when the command appended nothing
// to a new aggregate.
[[nodiscard]] std::string render_order_command_response(const commands::command_outcome& outcome,
                                                        std::optional<domain::order::order_status> status);
[[nodiscard]] std::string render_review_command_response(const commands::command_outcome& outcome,
                                                         std::optional<domain::review::review_status> status);

// Aggregate states, with the version their ETag carries.
//   order:   {orderId, customerId, status, lines: [{sku, quantity, unitPrice}], total,
//             placedAt, paymentId, paymentCaptured, cancelReason, version}
//   review:  {reviewId, sku, authorId, status, rating, title, body, submittedAt, editedAt,
//             helpfulCount, version}  (who voted is not disclosed, only how many)
//   payment: {paymentId, orderId, status, amount, authorizationCode, declineReason,
//             voidReason, captured, refunded, refundable, refunds: [{refundId, amount}],
//             version}  (the method token is the gateway's secret and is not disclosed)
[[nodiscard]] std::string render_order(const domain::order::state& s, std::uint64_t version);
[[nodiscard]] std::string render_review(const domain::review::state& s, std::uint64_t version);
[[nodiscard]] std::string render_payment(const domain::payment::state& s, std::uint64_t version);

// GET .../events: {"events": [{version, type, position, commandId, data}]}, each event
// decoded with `ctx`'s codec; `type` is the event's name ("order_placed"), `data` its
// fields in camelCase. An event this build cannot decode is a 500 problem (the detail
// names its version), never a partial history.
[[nodiscard]] result<std::string, problem> render_history(
    eventstore::context ctx, const std::vector<eventstore::recorded_event>& events);

// The same document written one event at a time, byte for byte what render_history()
// writes, so a route can render events in place while it visits them
// (eventstore::visit_history) instead of copying the history first. One per response;
// not shared between threads.
class history_renderer {
public:
    explicit history_renderer(eventstore::context ctx);
    history_renderer(const history_renderer&) = delete;
    history_renderer& operator=(const history_renderer&) = delete;
    ~history_renderer();
    // Fails with render_history()'s 500 problem for an event this build cannot decode;
    // the renderer must then be dropped.
    [[nodiscard]] result<void, problem> add(const eventstore::recorded_event_view& e);
    [[nodiscard]] result<void, problem> add(const eventstore::recorded_event& e);
    // The document; the renderer is empty afterwards.
    [[nodiscard]] std::string finish();

private:
    struct impl;
    eventstore::context ctx_;
    std::unique_ptr<impl> impl_;
};

// "2024-05-01T12:00:00.000Z". Years 0000-9999 only (what RFC 3339 can write): nullopt
// outside, and renderers then write null. Negative times before 1970 are fine.
[[nodiscard]] std::optional<std::string> format_rfc3339(domain::timestamp_ms t);
// The same into `out`, without allocating: the number of characters written (24).
[[nodiscard]] std::optional<std::size_t> format_rfc3339_into(domain::timestamp_ms t, std::span<char, 24> out) noexcept;

// The lower-case wire names of the enums.
[[nodiscard]] std::string_view name_of(domain::order::order_status s) noexcept;
[[nodiscard]] std::string_view name_of(domain::order::cancel_reason r) noexcept;
[[nodiscard]] std::string_view name_of(domain::review::review_status s) noexcept;
[[nodiscard]] std::string_view name_of(domain::review::moderation_action a) noexcept;
[[nodiscard]] std::string_view name_of(domain::payment::payment_status s) noexcept;
[[nodiscard]] std::string_view name_of(domain::role r) noexcept;

// RFC 6901 escaping of one reference token: "~" → "~0", "/" → "~1".
[[nodiscard]] std::string escape_pointer_token(std::string_view token);

}  // namespace shopstream::adapters::http
